"""Blocks -> chunks: one section at a time, within a token budget, with overlap.

A title starts a section; its heading path ("Install > On Linux") is kept on every chunk of
the section and prepended to the text that is embedded. A section longer than the budget is
cut at block boundaries, and a block longer than the budget at sentence (or, for tables, row)
boundaries; each new chunk of a section starts with the last ``overlap`` tokens of the
previous one. Tokens are counted as words and punctuation marks, which tracks WordPiece
tokens closely enough for a budget (all-MiniLM-L6-v2 reads at most 256 of them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from apps.knowledge.extract import Block

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
MAX_HEADING_CHARS = 500


def count_tokens(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    heading: str
    page: int | None
    token_count: int
    content_hash: str
    url: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def embedding_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def content_hash(heading: str, text: str) -> str:
    return hashlib.sha256(f"{heading}\x1f{text}".encode()).hexdigest()


@dataclass
class _Section:
    heading: str
    parts: list[tuple[str, int | None, int]] = field(default_factory=list)  # text, page, tokens


def chunk_blocks(
    blocks: Sequence[Block],
    *,
    budget: int,
    overlap: int,
    url: str = "",
    metadata: dict | None = None,
) -> list[ChunkDraft]:
    """Chunks for a document's blocks (``url`` and ``metadata`` are copied onto each)."""
    if blocks and all(b.kind == "title" for b in blocks):
        # Nothing but short lines: index them as text rather than losing them as headings.
        blocks = [Block(b.text, "text", b.page, b.depth, b.page_name) for b in blocks]
    drafts: list[ChunkDraft] = []
    for section in _sections(blocks, piece_budget=min(_PIECE_BUDGET, budget)):
        drafts.extend(_chunk_section(section, budget=budget, overlap=overlap))
    extra = metadata or {}
    return [
        ChunkDraft(
            d.text, d.heading, d.page, d.token_count, d.content_hash, url, {**extra, **d.metadata}
        )
        for d in drafts
    ]


def _sections(blocks: Iterable[Block], *, piece_budget: int) -> Iterable[_Section]:
    stack: list[tuple[int, str]] = []
    page_name = ""
    section = _Section(heading="")
    for block in blocks:
        if block.page_name and block.page_name != page_name:
            # A new sheet of a workbook: its name is the top heading.
            page_name = block.page_name
            if section.parts:
                yield section
            stack = [(-1, page_name)]
            section = _Section(heading=page_name)
        if block.kind == "title":
            if section.parts:
                yield section
            while stack and stack[-1][0] >= block.depth:
                stack.pop()
            stack.append((block.depth, " ".join(block.text.split())[:200]))
            section = _Section(heading=" > ".join(text for _, text in stack)[:MAX_HEADING_CHARS])
            continue
        for piece in _pieces(block, budget=piece_budget):
            section.parts.append((piece, block.page, count_tokens(piece)))
    if section.parts:
        yield section


# A block is cut into pieces no larger than this before packing; chunk_blocks' budget is
# applied again when packing, so this only has to be small enough to pack well.
_PIECE_BUDGET = 120


def _pieces(block: Block, *, budget: int) -> list[str]:
    text = block.text
    if count_tokens(text) <= budget:
        return [text]
    if block.kind == "table":
        return _pack_lines(text.split("\n"), budget, repeat_first=True)
    sentences = [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s.strip()]
    out: list[str] = []
    for sentence in sentences:
        if count_tokens(sentence) <= budget:
            out.append(sentence)
        else:  # a "sentence" with no punctuation: cut by words
            words = sentence.split()
            step = max(budget // 2, 1)
            out.extend(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    return out


def _pack_lines(lines: list[str], budget: int, *, repeat_first: bool) -> list[str]:
    header = lines[0] if repeat_first and lines else ""
    out: list[str] = []
    current: list[str] = []
    tokens = 0
    for line in lines:
        n = count_tokens(line)
        if current and tokens + n > budget:
            out.append("\n".join(current))
            current = [header] if header and line != header else []
            tokens = count_tokens(header) if current else 0
        current.append(line)
        tokens += n
    if current:
        out.append("\n".join(current))
    return out


def _chunk_section(section: _Section, *, budget: int, overlap: int) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    current: list[str] = []
    pages: list[int] = []
    tokens = 0
    carried = False  # the current chunk so far holds only the previous chunk's overlap

    def emit() -> None:
        text = "\n\n".join(current).strip()
        if not text:
            return
        distinct = sorted(set(pages))
        drafts.append(
            ChunkDraft(
                text=text,
                heading=section.heading,
                page=distinct[0] if distinct else None,
                token_count=count_tokens(text),
                content_hash=content_hash(section.heading, text),
                metadata={"pages": distinct} if len(distinct) > 1 else {},
            )
        )

    for text, page, n in section.parts:
        if current and not carried and tokens + n > budget:
            emit()
            tail = _tail(current, overlap)
            current, pages, tokens = ([tail], [], count_tokens(tail)) if tail else ([], [], 0)
            carried = bool(tail)
        current.append(text)
        if page is not None:
            pages.append(page)
        tokens += n
        carried = False
    if current and not carried:
        emit()
    return drafts


def _tail(parts: list[str], overlap: int) -> str:
    if overlap <= 0:
        return ""
    words = " ".join(parts).split()
    tail: list[str] = []
    tokens = 0
    for word in reversed(words):
        tokens += count_tokens(word)
        if tokens > overlap:
            break
        tail.append(word)
    return " ".join(reversed(tail))
