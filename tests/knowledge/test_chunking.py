"""Chunking by section with a token budget and overlap; headings and pages kept."""

from __future__ import annotations

import itertools

from apps.knowledge.chunking import chunk_blocks, count_tokens
from apps.knowledge.extract import Block, pdf_paragraphs


def sentences(n: int, word: str = "alpha") -> str:
    return " ".join(f"Sentence {i} talks about {word} number {i}." for i in range(n))


def test_each_section_gets_its_heading_path():
    blocks = [
        Block("Guide", "title", 1, 0),
        Block("Install", "title", 1, 1),
        Block("Run the installer.", "text", 1),
        Block("Configure", "title", 2, 1),
        Block("Edit the settings file.", "text", 2),
    ]
    chunks = chunk_blocks(blocks, budget=200, overlap=0)
    assert [(c.heading, c.text, c.page) for c in chunks] == [
        ("Guide > Install", "Run the installer.", 1),
        ("Guide > Configure", "Edit the settings file.", 2),
    ]
    assert chunks[0].embedding_text == "Guide > Install\nRun the installer."


def test_long_sections_are_cut_within_the_budget_with_overlap():
    blocks = [
        Block("Big", "title", 1),
        *(Block(sentences(6, f"w{i}"), "text", 1 + i // 3) for i in range(12)),
    ]
    chunks = chunk_blocks(blocks, budget=120, overlap=20)
    assert len(chunks) > 3
    assert all(count_tokens(c.text) <= 120 + 20 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        tail = previous.text.split()[-5:]
        assert " ".join(tail) in current.text  # the overlap carries the end of the previous chunk
    assert {c.heading for c in chunks} == {"Big"}
    assert chunks[-1].page == 4
    assert any(c.metadata.get("pages") for c in chunks)  # chunks spanning two pages list both


def test_long_tables_repeat_their_header_row():
    rows = ["Name | Price"] + [f"Item {i} | {i} EUR" for i in range(200)]
    chunks = chunk_blocks([Block("\n".join(rows), "table", 1)], budget=100, overlap=0)
    assert len(chunks) > 2
    assert all(c.text.startswith("Name | Price") for c in chunks)


def test_identical_text_under_a_different_heading_is_a_different_chunk():
    a = chunk_blocks([Block("A", "title"), Block("Same words.", "text")], budget=50, overlap=0)
    b = chunk_blocks([Block("B", "title"), Block("Same words.", "text")], budget=50, overlap=0)
    assert a[0].content_hash != b[0].content_hash


def test_a_document_of_short_lines_is_not_lost_as_headings():
    chunks = chunk_blocks([Block("Menu", "title"), Block("Soup", "title")], budget=50, overlap=0)
    assert [c.text for c in chunks] == ["Menu\n\nSoup"]


def test_pdf_lines_are_rejoined_into_paragraphs():
    page = (
        "Returns policy\n"
        "Customers may return any unused product within thirty days of deli-\n"
        "very for a full refund of the price they paid for it, shipping included\n"
        "and no questions asked.\n"
        "Shipping\n"
    )
    assert pdf_paragraphs(page).split("\n\n") == [
        "Returns policy",
        "Customers may return any unused product within thirty days of delivery for a full "
        "refund of the price they paid for it, shipping included and no questions asked.",
        "Shipping",
    ]
