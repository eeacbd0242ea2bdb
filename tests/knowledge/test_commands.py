"""manage.py ingest and manage.py ask --retrieve-only."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.knowledge.models import Source
from tests.knowledge.documents import make_docx

HOURS = "The Lyon office opens at eight in the morning and closes at six in the evening."
PARKING = "Visitors park in the underground garage; the entrance is on Rue Garibaldi."


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "hours.md").write_text(f"# Opening hours\n\n{HOURS}\n")
    (folder / "sub" / "parking.docx").write_bytes(make_docx([("Parking", [PARKING])]))
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # skipped: not a document type
    (folder / ".hidden.md").write_text("# Hidden\n\nnot ingested")
    return folder


def test_ingest_folder_waits_and_reports_each_source(tenant_a, media_root, docs):
    out, err = run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", "--wait", str(docs))
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ready") and "hours.md" in lines[0] and "1 chunks" in lines[0]
    assert lines[1].startswith("ready") and "parking.docx" in lines[1]
    assert "Created knowledge base 'Office'" in err


def test_ingest_again_reports_unchanged_and_reuses_sources(tenant_a, media_root, docs):
    run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", "--wait", str(docs))
    out, _ = run("ingest", "--tenant", "alpha", "--kb", "Office", "--wait", str(docs))
    assert [line.split()[0] for line in out.strip().splitlines()] == ["unchanged", "unchanged"]
    (docs / "hours.md").write_text("# Opening hours\n\nNow open until eight in the evening.\n")
    out, _ = run("ingest", "--tenant", "alpha", "--kb", "Office", "--wait", str(docs / "hours.md"))
    assert out.startswith("ready")
    from django_tenants.utils import tenant_context

    with tenant_context(tenant_a):
        assert Source.objects.filter(knowledge_base__name="Office").count() == 2


def test_ingest_failures_exit_1_and_say_why(tenant_a, media_root, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(CommandError) as excinfo:
        run(
            "ingest",
            "--tenant",
            "alpha",
            "--kb",
            "Office",
            "--create",
            "--wait",
            str(bad),
            str(tmp_path / "missing.md"),
        )
    assert excinfo.value.returncode == 1
    assert "2 of 2 sources failed" in str(excinfo.value)


def test_ingest_without_wait_queues(tenant_a, media_root, docs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out, _ = run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", str(docs))
    assert out.count("queued") == 2
    assert len(callbacks) == 2


def test_ingest_unknown_kb_or_tenant_exits_2(tenant_a, docs):
    with pytest.raises(CommandError) as excinfo:
        run("ingest", "--tenant", "alpha", "--kb", "Nope", str(docs))
    assert excinfo.value.returncode == 2 and "--create" in str(excinfo.value)
    with pytest.raises(CommandError) as excinfo:
        run("ingest", "--tenant", "nobody", "--kb", "Office", str(docs))
    assert excinfo.value.returncode == 2


def test_ask_retrieve_only_json(tenant_a, media_root, docs):
    run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", "--wait", str(docs))
    out, _ = run(
        "ask",
        "--tenant",
        "alpha",
        "--kb",
        "Office",
        "--retrieve-only",
        "--json",
        "where can visitors park?",
    )
    result = json.loads(out)
    top = result["chunks"][0]
    assert top["source"] == "parking.docx" and "Garibaldi" in top["text"]
    assert set(top) >= {"source", "chunk_id", "score", "text"}
    assert result["chunks"][0]["score"] >= result["chunks"][-1]["score"]


def test_ask_questions_file_prints_one_json_per_line(tenant_a, media_root, docs, tmp_path):
    run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", "--wait", str(docs))
    questions = tmp_path / "q.txt"
    questions.write_text("when does the office open?\n\nwhere do visitors park?\n")
    out, _ = run(
        "ask",
        "--tenant",
        "alpha",
        "--kb",
        "Office",
        "--retrieve-only",
        "--json",
        "--limit",
        "1",
        "--questions",
        str(questions),
    )
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["question"] for line in lines] == [
        "when does the office open?",
        "where do visitors park?",
    ]
    assert [line["chunks"][0]["source"] for line in lines] == ["hours.md", "parking.docx"]
    assert all(len(line["chunks"]) == 1 for line in lines)


def test_ask_retrieve_only_text_output(tenant_a, media_root, docs):
    run("ingest", "--tenant", "alpha", "--kb", "Office", "--create", "--wait", str(docs))
    out, _ = run("ask", "--tenant", "alpha", "--kb", "Office", "--retrieve-only", "opening hours")
    assert " 1. [" in out and "hours.md" in out


def test_ask_retrieve_only_needs_a_kb(tenant_a):
    with pytest.raises(CommandError) as excinfo:
        run("ask", "--tenant", "alpha", "--retrieve-only", "hello")
    assert excinfo.value.returncode == 2


def test_ask_without_retrieve_only_delegates_to_the_engine(tenant_a, monkeypatch):
    import sys
    import types

    calls = []

    def answer_for_cli(*, tenant, assistant_name, kb_name, question, on_delta):
        calls.append((tenant.slug, assistant_name, kb_name, question, on_delta is None))
        if on_delta:
            on_delta("Eight ")
            on_delta("o'clock.")
        return {"answer": "Eight o'clock.", "sources": []}

    module = types.ModuleType("apps.conversations.cli")
    module.answer_for_cli = answer_for_cli  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "apps.conversations.cli", module)
    out, _ = run("ask", "--tenant", "alpha", "--kb", "Office", "--json", "when?")
    assert json.loads(out) == {"answer": "Eight o'clock.", "sources": []}
    out, _ = run("ask", "--tenant", "alpha", "--assistant", "Helper", "when?")
    assert out.startswith("Eight o'clock.")
    assert calls == [
        ("alpha", None, "Office", "when?", True),
        ("alpha", "Helper", None, "when?", False),
    ]
