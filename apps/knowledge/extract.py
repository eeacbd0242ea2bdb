"""Bytes of a detected type -> text blocks (titles, paragraphs, list items, tables as text).

``unstructured``'s partitioners do the work for Word, PowerPoint, Excel, CSV, HTML, Markdown and
plain text. PDFs are read with pypdf (pure Python, text layer only) and each page's text goes
through unstructured's text partitioner: ``unstructured[pdf]`` would bring PyTorch-heavy layout
models, OCR and OpenCV, which the product avoids (scanned PDFs without a text layer therefore
yield nothing and fail with a clear reason). No partitioner is ever handed a URL or a path to
fetch: they get bytes we already hold.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from apps.knowledge.conf import setting
from apps.knowledge.detect import DetectedType, decode_text
from apps.knowledge.errors import IngestionError
from apps.knowledge.offline import prepare_unstructured

# Bumped when extraction or chunking changes, so that sources get re-chunked on the next sync.
PIPELINE_VERSION = "2"


@dataclass(frozen=True)
class Block:
    text: str
    kind: str  # title, text, list, table
    page: int | None = None
    depth: int = 0  # for titles: 0 = top level
    page_name: str = ""  # e.g. an Excel sheet


@dataclass
class Extracted:
    blocks: list[Block] = field(default_factory=list)
    page_count: int = 0
    title: str = ""


_KIND_BY_CATEGORY = {
    "Title": "title",
    "ListItem": "list",
    "Table": "table",
    "TableChunk": "table",
}
_SKIPPED_CATEGORIES = {"PageBreak", "Image", "Header", "Footer", "PageNumber"}


def extract(data: bytes, detected: DetectedType, *, name: str = "") -> Extracted:
    """Blocks of text in reading order, or ``IngestionError`` with a reason for people."""
    prepare_unstructured()
    if detected.kind == "pdf":
        result = _extract_pdf(data)
    else:
        result = _extract_with_unstructured(data, detected.kind)
    total = sum(len(block.text) for block in result.blocks)
    if total > setting("KNOWLEDGE_MAX_TEXT_CHARS"):
        raise IngestionError(
            f"The document holds {total:,} characters of text; the limit is "
            f"{setting('KNOWLEDGE_MAX_TEXT_CHARS'):,}.",
            code="text_too_large",
        )
    if not any(block.text.strip() for block in result.blocks):
        what = "PDF has no text layer (a scan?)" if detected.kind == "pdf" else "file has no text"
        raise IngestionError(f"Nothing to index: the {what}.", code="empty_document")
    return result


# --- PDF ----------------------------------------------------------------------------------------

_PDF_LIMITS: dict[str, Any] = {
    # Per stream: what one compressed stream may expand to (pypdf raises LimitReachedError).
    "zlib_maximum_output_length": 32 * 1024 * 1024,
    "lzw_maximum_output_length": 32 * 1024 * 1024,
    "run_length_maximum_output_length": 32 * 1024 * 1024,
    "array_based_stream_maximum_output_length": 32 * 1024 * 1024,
    "stream_decoding_work_maximum_length": 128 * 1024 * 1024,
    "jbig2dec_binary": None,  # never start an external program on a hostile file
}


def _extract_pdf(data: bytes) -> Extracted:
    import pypdf
    from pypdf.errors import LimitReachedError, PyPdfError

    max_page = setting("KNOWLEDGE_MAX_PAGE_CHARS")
    out = Extracted()
    try:
        with pypdf.apply_configuration(**_PDF_LIMITS):
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise IngestionError(
                    "The PDF is password-protected; upload a copy without a password.",
                    code="malformed_document",
                )
            out.page_count = len(reader.pages)
            out.title = _pdf_title(reader)
            for number, page in enumerate(reader.pages, start=1):
                text = page.extract_text() or ""
                if len(text) > max_page:
                    raise IngestionError(
                        f"Page {number} holds {len(text):,} characters of text; the limit for "
                        f"one page is {max_page:,}.",
                        code="page_too_large",
                    )
                out.blocks.extend(_text_blocks(pdf_paragraphs(text), page=number))
    except LimitReachedError as exc:
        raise IngestionError(
            "Refused as a possible decompression bomb: a stream in the PDF expands beyond the "
            "allowed size.",
            code="decompression_bomb",
        ) from exc
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise IngestionError(
            "The PDF is damaged or not a valid PDF, so its text cannot be read.",
            code="malformed_document",
        ) from exc
    return out


def _pdf_title(reader: Any) -> str:
    try:
        title = reader.metadata.title if reader.metadata else ""
    except Exception:  # metadata of a damaged file: not worth failing for
        return ""
    return str(title or "").strip()[:300]


_SENTENCE_END = (".", "!", "?", ":", ";")


def pdf_paragraphs(page_text: str) -> str:
    """Re-join the lines of a PDF page into paragraphs separated by blank lines.

    A PDF's text layer has a line break at the end of every printed line. A line much shorter
    than the page's full lines ends a paragraph (or is a heading on its own).
    """
    lines = [line.strip() for line in page_text.splitlines()]
    lengths = sorted(len(line) for line in lines if line)
    if not lengths:
        return ""
    full = lengths[int(len(lengths) * 0.9)] if len(lengths) > 3 else lengths[-1]
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        if current.endswith("-") and line[:1].islower():
            current = current[:-1] + line  # a word hyphenated across two lines
        else:
            current = f"{current} {line}" if current else line
        if len(line) < 0.75 * full:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _text_blocks(text: str, *, page: int | None) -> list[Block]:
    from unstructured.partition.text import partition_text

    if not text.strip():
        return []
    elements = partition_text(text=text, paragraph_grouper=False, languages=["eng"])
    blocks = _blocks_from_elements(elements)
    return [Block(b.text, _pdf_kind(b), page, b.depth) for b in blocks]


def _pdf_kind(block: Block) -> str:
    # unstructured calls a short line with a verb ("Configuring the widget") narrative text;
    # in a PDF a single short line without closing punctuation is a heading.
    text = block.text
    if (
        block.kind == "text"
        and len(text.split()) <= 12
        and not text.endswith((*_SENTENCE_END, ","))
    ):
        return "title"
    return block.kind


# --- Everything else: unstructured's partitioners ---------------------------------------------


def _extract_with_unstructured(data: bytes, kind: str) -> Extracted:
    try:
        elements = _partition(data, kind)
    except IngestionError:
        raise
    except Exception as exc:  # parsers raise anything on damaged input; the reason is ours
        raise IngestionError(
            f"The {_LABELS[kind]} is damaged or not valid, so its text cannot be read "
            f"({type(exc).__name__}).",
            code="malformed_document",
        ) from exc
    out = Extracted(blocks=_blocks_from_elements(elements))
    pages = {b.page for b in out.blocks if b.page is not None}
    out.page_count = max(pages) if pages else 1
    first_title = next((b.text for b in out.blocks if b.kind == "title"), "")
    out.title = first_title[:300]
    return out


_LABELS = {
    "docx": "Word document",
    "pptx": "PowerPoint presentation",
    "xlsx": "Excel workbook",
    "csv": "CSV file",
    "md": "Markdown file",
    "html": "HTML page",
    "txt": "text file",
}


def _partition(data: bytes, kind: str) -> list[Any]:
    common: dict[str, Any] = {"languages": ["eng"]}
    if kind == "docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(file=io.BytesIO(data), infer_table_structure=True, **common)
    if kind == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(file=io.BytesIO(data), infer_table_structure=True, **common)
    if kind == "xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return partition_xlsx(
            file=io.BytesIO(data), find_subtable=False, infer_table_structure=True, **common
        )
    text = decode_text(data)
    if kind == "csv":
        from unstructured.partition.csv import partition_csv

        return partition_csv(file=io.BytesIO(text.encode("utf-8")), **common)
    if kind == "md":
        from unstructured.partition.md import partition_md

        return partition_md(text=text, **common)
    if kind == "html":
        from unstructured.partition.html import partition_html

        return partition_html(text=strip_boilerplate(text), **common)
    from unstructured.partition.text import partition_text

    return partition_text(text=text, paragraph_grouper=False, **common)


def _blocks_from_elements(elements: list[Any]) -> list[Block]:
    max_page = setting("KNOWLEDGE_MAX_PAGE_CHARS")
    blocks: list[Block] = []
    for element in elements:
        category = getattr(element, "category", "")
        if category in _SKIPPED_CATEGORIES:
            continue
        metadata = element.metadata
        kind = _KIND_BY_CATEGORY.get(category, "text")
        text = element.text or ""
        if kind == "table" and getattr(metadata, "text_as_html", None):
            text = table_text(metadata.text_as_html) or text
        text = text.strip()
        if not text:
            continue
        if len(text) > max_page:
            raise IngestionError(
                f"One part of the document holds {len(text):,} characters of text; the limit "
                f"is {max_page:,}.",
                code="page_too_large",
            )
        blocks.append(
            Block(
                text=text,
                kind=kind,
                page=getattr(metadata, "page_number", None),
                depth=getattr(metadata, "category_depth", None) or 0,
                page_name=getattr(metadata, "page_name", None) or "",
            )
        )
    return blocks


class _TableText(HTMLParser):
    """An HTML table as text: one line per row, cells separated by " | "."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_text(html: str) -> str:
    parser = _TableText()
    parser.feed(html)
    parser.close()
    return "\n".join(" | ".join(row) for row in parser.rows if any(row))


# --- HTML boilerplate ---------------------------------------------------------------------------

_BOILERPLATE_TAGS = ("nav", "aside", "header", "footer", "script", "style", "noscript", "form")
_PERMALINK_TEXTS = {"¶", "#", "§", "🔗"}
_BOILERPLATE_ROLES = ("navigation", "banner", "contentinfo", "search", "complementary")
_BOILERPLATE_CLASS_RE = re.compile(
    r"(?:^|[\s_-])(?:sidebar|sphinxsidebar|navbar|nav|menu|breadcrumbs?|related|footer|"
    r"cookie|skip-?link)(?:$|[\s_-])",
    re.I,
)


def strip_boilerplate(html: str) -> str:
    """The page's main content: navigation, sidebars, headers and footers removed."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return html
    for element in root.xpath("//" + " | //".join(_BOILERPLATE_TAGS)):
        _drop(element)
    for anchor in root.xpath("//a"):
        # Permalink anchors next to headings ("¶" in Sphinx and MkDocs, "#" elsewhere).
        if (
            "headerlink" in (anchor.get("class") or "")
            or (anchor.text_content() or "").strip() in _PERMALINK_TEXTS
        ):
            _drop(anchor)
    for element in root.xpath("//*[@role or @class]"):
        role = (element.get("role") or "").lower()
        if role in _BOILERPLATE_ROLES or _BOILERPLATE_CLASS_RE.search(element.get("class") or ""):
            _drop(element)
    main = root.xpath("//main | //*[@role='main'] | //article")
    body = main[0] if main else root
    return lxml.html.tostring(body, encoding="unicode")


def _drop(element: Any) -> None:
    if element.getparent() is not None and element.tag not in ("html", "body"):
        element.drop_tree()  # keeps the text that follows the element


def html_title(html: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", html[:200_000], re.I | re.S)
    if not match:
        return ""
    import html as html_lib

    return " ".join(html_lib.unescape(match.group(1)).split())[:300]
