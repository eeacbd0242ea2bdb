"""An audit event is written whatever a model or a form put in its data."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.tools.forms import JsonField


def test_nul_nan_and_lone_surrogates_are_stored_cleaned(in_tenant_a):
    event = audit_record(
        actor=None,
        action="tool.call",
        object_type="tool",
        object_id="1",
        data={"arguments": {"id": "a\x00b", "n": float("nan"), "k\ud800": [float("inf"), "ok"]}},
    )
    stored = AuditEvent.objects.get(pk=event.pk).data
    assert stored == {"arguments": {"id": "ab", "n": None, "k\ufffd": [None, "ok"]}}


@pytest.mark.parametrize(
    "text", ['{"x": NaN}', '{"x": Infinity}', '{"x": "\\u0000"}', "[" * 100_000 + "]" * 100_000]
)
def test_tool_json_fields_refuse_what_postgresql_cannot_store(text):
    from django import forms

    with pytest.raises(forms.ValidationError):
        JsonField().clean(text)
