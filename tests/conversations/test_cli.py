"""answer_for_cli: the `ask` command's engine path, streamed and summarised."""

from __future__ import annotations

import pytest

from apps.conversations.cli import answer_for_cli
from apps.core.errors import NotFound

pytestmark = pytest.mark.usefixtures("committed")


def test_streams_text_and_returns_a_summary(engine_tenant):
    pieces: list[str] = []
    result = answer_for_cli(
        tenant=engine_tenant,
        assistant_name=None,
        kb_name=None,
        question="Hi there",
        on_delta=pieces.append,
    )
    assert "".join(pieces) == result["answer"] == "Hello from the fake model. You asked: Hi there"
    assert result["status"] == "complete"
    assert result["model"] == "echo"
    assert result["tokens"]["completion"] > 0
    assert result["timings"]["ttft_ms"] is not None
    assert result["cost_usd"] == 0.0


def test_unknown_assistant_is_a_coded_error(engine_tenant):
    with pytest.raises(NotFound) as excinfo:
        answer_for_cli(tenant=engine_tenant, assistant_name="Nobody", kb_name=None, question="x")
    assert excinfo.value.code == "assistant_not_found"
