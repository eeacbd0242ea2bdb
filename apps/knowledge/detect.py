"""What a file really is, from its bytes (magic numbers), never from its name alone.

The name and a declared MIME type only choose between text formats that look alike (plain
text, Markdown, CSV). ZIP-based Office files are checked for decompression bombs and XML
entity declarations before any parser sees them.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from apps.knowledge.errors import IngestionError

SUPPORTED_EXTENSIONS = frozenset(
    {
        ".pdf",
        ".docx",
        ".pptx",
        ".xlsx",
        ".csv",
        ".txt",
        ".text",
        ".md",
        ".markdown",
        ".html",
        ".htm",
    }
)

MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "md": "text/markdown",
    "html": "text/html",
    "txt": "text/plain",
}

# ZIP limits: what an Office file may expand to, in total and per part, and how much any
# part larger than 1 MB may be compressed (real documents stay far below 100:1).
ZIP_MAX_ENTRIES = 5_000
ZIP_MAX_TOTAL_BYTES = 300 * 1024 * 1024
ZIP_MAX_MEMBER_BYTES = 64 * 1024 * 1024
ZIP_MAX_RATIO = 150
ZIP_XML_SCAN_BYTES = 64 * 1024

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old binary Office file (.doc, .xls or .ppt)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"{\\rtf", "an RTF document"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio file"),
)
_HTML_START_RE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)
_HTML_TAG_RE = re.compile(rb"<(?:head|body|title|p|div|h1|h2|table)\b[^>]*>", re.I)


@dataclass(frozen=True)
class DetectedType:
    kind: str  # pdf, docx, pptx, xlsx, csv, md, html, txt
    mime: str


def detect_type(data: bytes, *, name: str = "", declared_mime: str = "") -> DetectedType:
    """The file's real type, or ``IngestionError`` saying what it is and why it is refused."""
    if not data.strip():
        raise IngestionError("The file is empty.", code="empty_document")
    head = data[:2048]
    if b"%PDF-" in data[:1024]:
        return _typed("pdf")
    if head.startswith(b"PK\x03\x04"):
        return _typed(inspect_office_zip(data))
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise IngestionError(
                f"This file is {what}, which cannot be ingested. Supported: PDF, Word (.docx), "
                "PowerPoint (.pptx), Excel (.xlsx), CSV, text, Markdown and HTML.",
                code="unsupported_type",
            )
    if b"\x00" in data[:8192] and not _has_utf16_bom(data):
        raise IngestionError(
            "This file is binary data of an unknown kind, which cannot be ingested.",
            code="unsupported_type",
        )
    return _typed(_text_kind(head, name=name, declared_mime=declared_mime))


def _typed(kind: str) -> DetectedType:
    return DetectedType(kind=kind, mime=MIME_TYPES[kind])


def _has_utf16_bom(data: bytes) -> bool:
    return data.startswith((b"\xff\xfe", b"\xfe\xff"))


def _text_kind(head: bytes, *, name: str, declared_mime: str) -> str:
    if _has_utf16_bom(head):
        head = head.decode("utf-16", errors="ignore").encode()
    suffix = PurePosixPath(name.lower()).suffix
    mime = declared_mime.split(";")[0].strip().lower()
    if _HTML_START_RE.match(head) or mime in ("text/html", "application/xhtml+xml"):
        return "html"
    if suffix in (".html", ".htm") and _HTML_TAG_RE.search(head):
        return "html"
    if suffix in (".md", ".markdown") or mime == "text/markdown":
        return "md"
    if suffix == ".csv" or mime == "text/csv":
        return "csv"
    return "txt"


def decode_text(data: bytes) -> str:
    """Text from bytes: UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252."""
    if _has_utf16_bom(data):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_OFFICE_MAIN_PARTS = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
}


def inspect_office_zip(data: bytes) -> str:
    """Which Office format a ZIP holds, after checking it cannot blow up in memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestionError(
            "The file looks like a ZIP archive (as Word, PowerPoint and Excel files are) but is "
            "damaged and cannot be opened.",
            code="malformed_document",
        ) from exc
    check_zip_limits(infos)
    names = {info.filename for info in infos}
    kind = next((k for part, k in _OFFICE_MAIN_PARTS.items() if part in names), None)
    if kind is None or "[Content_Types].xml" not in names:
        raise IngestionError(
            "This file is a ZIP archive, not a Word, PowerPoint or Excel document; archives are "
            "not unpacked. Upload the documents inside it one by one.",
            code="unsupported_type",
        )
    with archive:
        _check_content_types(archive)
        for info in infos:
            if info.filename.endswith((".xml", ".rels")):
                _check_xml_prolog(archive, info)
    return kind


def check_zip_limits(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > ZIP_MAX_ENTRIES:
        raise _bomb(f"it holds {len(infos):,} parts (the limit is {ZIP_MAX_ENTRIES:,})")
    total = sum(info.file_size for info in infos)
    if total > ZIP_MAX_TOTAL_BYTES:
        raise _bomb(
            f"it would expand to {total / 2**20:,.0f} MB "
            f"(the limit is {ZIP_MAX_TOTAL_BYTES / 2**20:,.0f} MB)"
        )
    for info in infos:
        if info.file_size > ZIP_MAX_MEMBER_BYTES:
            raise _bomb(
                f"its part {info.filename[:80]} would expand to {info.file_size / 2**20:,.0f} MB "
                f"(the limit is {ZIP_MAX_MEMBER_BYTES / 2**20:,.0f} MB)"
            )
        if info.file_size > 2**20 and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(
                f"its part {info.filename[:80]} is compressed "
                f"{info.file_size // max(info.compress_size, 1):,} to 1"
            )


def _bomb(why: str) -> IngestionError:
    return IngestionError(
        f"Refused as a possible decompression bomb: {why}.", code="decompression_bomb"
    )


def _check_content_types(archive: zipfile.ZipFile) -> None:
    with archive.open("[Content_Types].xml") as handle:
        raw = handle.read(ZIP_MAX_MEMBER_BYTES)
    try:
        SafeElementTree.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _xml_entities() from exc
    except SafeElementTree.ParseError as exc:
        raise IngestionError(
            "The document's internal list of parts is damaged, so it cannot be read.",
            code="malformed_document",
        ) from exc


def _check_xml_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    # A DTD (and so any entity declaration) can only come before the root element.
    with archive.open(info) as handle:
        prolog = handle.read(ZIP_XML_SCAN_BYTES)
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise _xml_entities()


def _xml_entities() -> IngestionError:
    return IngestionError(
        "Refused: the document declares XML entities or a DTD, which Office files never need "
        "and which can expand into an XML bomb.",
        code="xml_entities",
    )
