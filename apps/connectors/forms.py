"""Backoffice forms for connections, approved tables and named queries (validation of shape
only; the services do the real checks and raise coded errors)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.connectors.models import Connection, DatabaseEngine, SslMode
from apps.llm.models import Assistant


class ConnectionForm(forms.Form):
    name = forms.RegexField(regex=r"^[a-z][a-z0-9_]{0,39}$", max_length=40)
    engine = forms.ChoiceField(choices=DatabaseEngine.choices)
    host = forms.CharField(max_length=253)
    port = forms.IntegerField(min_value=1, max_value=65535, required=False)
    database = forms.CharField(max_length=128)
    username = forms.CharField(max_length=128, label="User")
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Stored encrypted. Leave empty to keep the current one.",
    )
    sslmode = forms.ChoiceField(choices=SslMode.choices, initial=SslMode.PREFER, label="TLS")
    ssl_root_cert = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="CA certificate (PEM)"
    )
    statement_timeout_ms = forms.IntegerField(
        min_value=100, max_value=60_000, required=False, label="Statement timeout (ms)"
    )
    row_limit = forms.IntegerField(min_value=1, max_value=10_000, required=False)


class ApproveTableForm(forms.Form):
    table = forms.CharField(max_length=260)
    columns = forms.MultipleChoiceField(required=False)
    sensitive = forms.MultipleChoiceField(required=False)
    row_filter = forms.CharField(max_length=1000, required=False)

    def __init__(self, *args: Any, column_names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(c, c) for c in column_names or []]
        for name in ("columns", "sensitive"):
            field = self.fields[name]
            if isinstance(field, forms.MultipleChoiceField):
                field.choices = choices


class SqlToolForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Let the assistant write read-only SQL")
    assistants = forms.ModelMultipleChoiceField(
        queryset=Assistant.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )


class NamedQueryForm(forms.Form):
    name = forms.RegexField(regex=r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$", max_length=64)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    connection = forms.ModelChoiceField(queryset=Connection.objects.all())
    sql = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), label="SQL")
    parameters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text="One per line: name:type:description (integer, number, string, boolean, date; "
        "name? for optional).",
    )
    summary_template = forms.CharField(max_length=200, required=False, label="Visitor summary")
    max_rows = forms.IntegerField(min_value=1, max_value=10_000, initial=50)
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    assistants = forms.ModelMultipleChoiceField(
        queryset=Assistant.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )


def parameters_as_text(parameters: list[dict[str, Any]]) -> str:
    lines = []
    for p in parameters:
        name = p["name"] + ("" if p.get("required", True) else "?")
        lines.append(":".join(filter(None, [name, p["type"], p.get("description", "")])))
    return "\n".join(lines)
