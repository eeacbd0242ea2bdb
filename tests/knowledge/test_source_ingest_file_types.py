"""Every supported file type ingests into chunks that keep headings and page numbers."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.knowledge import services
from apps.knowledge.models import Chunk, SourceStatus
from tests.knowledge.conftest import ingest
from tests.knowledge.documents import make_docx, make_pptx, make_text_pdf, make_xlsx, wrap

RETURNS = (
    "Customers may return any unused product within 30 days of delivery for a full refund. "
    "The original receipt is required and the item must be in its original packaging."
)
SHIPPING = (
    "Orders placed before noon ship the same business day. International shipping takes "
    "between five and ten business days depending on customs."
)


def upload(kb, name: str, data: bytes, **kwargs):
    return services.source_create_file(
        knowledge_base=kb, uploaded_file_or_path=SimpleUploadedFile(name, data), **kwargs
    )


def chunks_of(source) -> list[Chunk]:
    return list(Chunk.objects.filter(source=source).order_by("ordinal"))


def test_pdf_keeps_page_numbers_and_headings(kb):
    pdf = make_text_pdf(
        [["Returns policy", "", *wrap(RETURNS)], ["Shipping times", "", *wrap(SHIPPING)]]
    )
    source = ingest(upload(kb, "policies.pdf", pdf))
    assert source.status == SourceStatus.READY, source.status_reason
    assert source.page_count == 2
    assert source.content_type == "application/pdf"
    chunks = chunks_of(source)
    by_heading = {c.heading: c for c in chunks}
    assert by_heading["Returns policy"].page == 1
    assert "30 days of delivery" in by_heading["Returns policy"].text
    assert by_heading["Shipping times"].page == 2
    assert source.chunk_count == len(chunks) == 2


def test_docx_sections_and_table_as_text(kb):
    data = make_docx(
        [("Returns", [RETURNS]), ("Shipping", [SHIPPING])],
        table=[["Plan", "Price"], ["Basic", "10 EUR"], ["Pro", "25 EUR"]],
    )
    source = ingest(upload(kb, "handbook.docx", data))
    assert source.status == SourceStatus.READY, source.status_reason
    chunks = chunks_of(source)
    assert any(c.heading == "Returns" and "full refund" in c.text for c in chunks)
    assert any("Pro | 25 EUR" in c.text for c in chunks)


def test_pptx_slides_become_pages(kb):
    data = make_pptx([("Returns", RETURNS), ("Shipping", SHIPPING)])
    source = ingest(upload(kb, "deck.pptx", data))
    assert source.status == SourceStatus.READY, source.status_reason
    pages = {c.heading: c.page for c in chunks_of(source)}
    assert pages == {"Returns": 1, "Shipping": 2}


def test_xlsx_sheets_are_headings_and_rows_text(kb):
    data = make_xlsx(
        {
            "Prices": [["Plan", "Monthly price"], ["Basic", 10], ["Pro", 25]],
            "Contacts": [["Team", "Email"], ["Support", "help@example.com"]],
        }
    )
    source = ingest(upload(kb, "book.xlsx", data))
    assert source.status == SourceStatus.READY, source.status_reason
    chunks = {c.heading: c.text for c in chunks_of(source)}
    assert "Basic | 10" in chunks["Prices"]
    assert "Support | help@example.com" in chunks["Contacts"]


def test_csv_rows_as_text(kb):
    data = b"city,country,office\nLyon,France,Sales\nPorto,Portugal,Engineering\n"
    source = ingest(upload(kb, "offices.csv", data))
    assert source.status == SourceStatus.READY, source.status_reason
    assert "Porto | Portugal | Engineering" in chunks_of(source)[0].text
    assert source.content_type == "text/csv"


def test_markdown_headings_nest(kb):
    data = f"# Policies\n\n## Returns\n\n{RETURNS}\n\n## Shipping\n\n{SHIPPING}\n".encode()
    source = ingest(upload(kb, "policies.md", data))
    assert source.status == SourceStatus.READY, source.status_reason
    headings = [c.heading for c in chunks_of(source)]
    assert headings == ["Policies > Returns", "Policies > Shipping"]


def test_html_main_content_without_navigation(kb):
    data = (
        "<!doctype html><html><head><title>Help centre</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/pricing'>Pricing menu entry</a></nav>"
        f"<main><h1>Returns</h1><p>{RETURNS}</p><h2>Shipping</h2><p>{SHIPPING}</p></main>"
        "<footer>Copyright footer text</footer></body></html>"
    ).encode()
    source = ingest(upload(kb, "help.html", data))
    assert source.status == SourceStatus.READY, source.status_reason
    text = " ".join(c.text for c in chunks_of(source))
    assert "full refund" in text and "customs" in text
    assert "Pricing menu entry" not in text and "Copyright footer" not in text


def test_plain_text_and_pasted_text(kb):
    source = ingest(upload(kb, "notes.txt", f"Returns\n\n{RETURNS}\n".encode()))
    assert source.status == SourceStatus.READY, source.status_reason
    pasted = ingest(services.source_create_text(knowledge_base=kb, title="Shipping", text=SHIPPING))
    assert pasted.status == SourceStatus.READY, pasted.status_reason
    assert chunks_of(pasted)[0].text == SHIPPING
    assert pasted.content_hash and pasted.chunk_count == 1


def test_file_from_a_path(kb, tmp_path):
    path = tmp_path / "faq.md"
    path.write_text(f"# FAQ\n\n{RETURNS}\n")
    source = ingest(services.source_create_file(knowledge_base=kb, uploaded_file_or_path=path))
    assert source.status == SourceStatus.READY, source.status_reason
    assert source.title == "faq.md" and source.file_name == "faq.md"
