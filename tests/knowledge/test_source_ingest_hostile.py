"""Hostile files are refused or stopped at a limit, with a reason a person understands, and
the next source still ingests."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.errors import InvalidInput
from apps.knowledge import services
from apps.knowledge.models import Chunk, SourceStatus
from tests.knowledge.conftest import ingest
from tests.knowledge.documents import make_docx, make_text_pdf, wrap

GOOD_TEXT = "The office opens at eight in the morning and closes at six in the evening."


def upload(kb, name: str, data: bytes):
    return services.source_create_file(
        knowledge_base=kb, uploaded_file_or_path=SimpleUploadedFile(name, data)
    )


def failed(kb, name: str, data: bytes):
    source = ingest(upload(kb, name, data))
    assert source.status == SourceStatus.FAILED
    assert source.status_reason
    assert Chunk.objects.filter(source=source).count() == 0
    return source


def office_zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def test_zip_bomb_disguised_as_docx_is_refused(kb):
    bomb = office_zip(
        {"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": b" " * (8 * 1024 * 1024)}
    )
    assert len(bomb) < 100_000
    source = failed(kb, "report.docx", bomb)
    assert source.error_code == "decompression_bomb"
    assert "compressed" in source.status_reason


def test_docx_with_xml_entity_expansion_is_refused(kb):
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&lol3;</w:t></w:r></w:p></w:body></w:document>"
    )
    source = failed(
        kb,
        "laughs.docx",
        office_zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": laughs}),
    )
    assert source.error_code == "xml_entities"


def test_entities_in_the_content_types_part_are_refused(kb):
    evil = b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><Types>&x;</Types>'
    source = failed(
        kb, "evil.docx", office_zip({"[Content_Types].xml": evil, "word/document.xml": b"<a/>"})
    )
    assert source.error_code == "xml_entities"


def _pdf_with_stream(stream: bytes, filters: str) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter %s >>\nstream\n" % (len(stream), filters.encode())
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(
        b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    )
    out.write(b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def test_pdf_stream_bomb_is_stopped(kb):
    stream = zlib.compress(b"0 0 m " * (8 * 1024 * 1024), 9)  # 48 MB of drawing operators
    source = failed(kb, "bomb.pdf", _pdf_with_stream(stream, "/FlateDecode"))
    assert source.error_code == "decompression_bomb"


def test_nested_pdf_stream_bomb_is_stopped(kb):
    inner = zlib.compress(b"0 0 m " * (8 * 1024 * 1024), 9)
    stream = zlib.compress(inner, 9)  # compressed twice: a few KB on disk
    source = failed(kb, "nested.pdf", _pdf_with_stream(stream, "[/FlateDecode /FlateDecode]"))
    assert source.error_code == "decompression_bomb"


def test_huge_page_is_stopped_at_the_page_limit(kb, settings):
    settings.KNOWLEDGE_MAX_PAGE_CHARS = 2_000
    pdf = make_text_pdf([wrap(GOOD_TEXT * 60)])
    source = failed(kb, "dense.pdf", pdf)
    assert source.error_code == "page_too_large"
    assert "Page 1" in source.status_reason


def test_too_much_text_overall_is_stopped(kb, settings):
    settings.KNOWLEDGE_MAX_TEXT_CHARS = 1_000
    source = failed(kb, "long.txt", ("\n\n".join([GOOD_TEXT] * 40)).encode())
    assert source.error_code == "text_too_large"


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R", "malformed_document"),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 60, "malformed_document"),
        ("archive.docx", office_zip({"readme.txt": b"hello"}), "unsupported_type"),
        ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "unsupported_type"),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "unsupported_type"),
        ("program.txt", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "unsupported_type"),
        ("blob.bin", bytes(range(256)) * 4, "unsupported_type"),
        ("blank.txt", b"   \n\n  ", "empty_document"),
        ("scan.pdf", make_text_pdf([[]]), "empty_document"),
    ],
)
def test_malformed_and_unsupported_files_fail_with_a_reason(kb, name, data, code):
    source = failed(kb, name, data)
    assert source.error_code == code


def test_type_comes_from_content_not_extension(kb):
    pdf_named_txt = ingest(
        upload(kb, "notes.txt", make_text_pdf([["Opening hours", "", GOOD_TEXT]]))
    )
    assert pdf_named_txt.status == SourceStatus.READY, pdf_named_txt.status_reason
    assert pdf_named_txt.content_type == "application/pdf"
    docx_named_pdf = ingest(upload(kb, "slides.pdf", make_docx([("Opening hours", [GOOD_TEXT])])))
    assert docx_named_pdf.status == SourceStatus.READY, docx_named_pdf.status_reason
    assert docx_named_pdf.content_type.endswith("wordprocessingml.document")
    html_named_pdf = ingest(
        upload(kb, "page.pdf", f"<html><body><p>{GOOD_TEXT}</p></body></html>".encode())
    )
    assert html_named_pdf.content_type == "text/html"


def test_oversized_upload_is_refused_before_it_is_stored(kb, settings, media_root):
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1024
    with pytest.raises(InvalidInput) as excinfo:
        upload(kb, "big.txt", b"a" * 2048)
    assert excinfo.value.code == "file_too_large"
    assert "limit is" in excinfo.value.message
    assert not any(p.is_file() for p in media_root.rglob("*")) if media_root.exists() else True


def test_other_sources_keep_ingesting_after_a_hostile_one(kb):
    bomb = office_zip(
        {"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": b" " * (8 * 1024 * 1024)}
    )
    bad = ingest(upload(kb, "bomb.docx", bomb))
    good = ingest(upload(kb, "hours.txt", GOOD_TEXT.encode()))
    assert bad.status == SourceStatus.FAILED
    assert good.status == SourceStatus.READY
    assert good.chunk_count == 1
