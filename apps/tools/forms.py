"""Backoffice form for custom HTTP tools (shape only; the services check the rest)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.core.text import json_is_storable
from apps.llm.models import Assistant
from apps.tools.models import HttpMethod


class JsonField(forms.CharField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "class": "mono"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise forms.ValidationError("Enter valid JSON.") from None
        if not json_is_storable(value):
            raise forms.ValidationError(
                "Enter valid JSON without NaN, Infinity or NUL characters (\\u0000)."
            )
        return value

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2)
        return value


def header_lines(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise forms.ValidationError(f"Write headers as 'Name: value' ({line.strip()!r}).")
        headers[name.strip()] = value.strip()
    return headers


class HttpToolForm(forms.Form):
    name = forms.RegexField(regex=r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$", max_length=64)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    method = forms.ChoiceField(choices=HttpMethod.choices)
    url_template = forms.CharField(
        max_length=2000,
        label="URL",
        help_text="e.g. https://api.example.com/orders/{order_id}; {visitor_id} is the verified visitor.",
    )
    allowed_hosts = forms.CharField(
        max_length=2000, help_text="Comma-separated; *.example.com allows subdomains."
    )
    parameters = JsonField(required=False, help_text="JSON schema (type object) of the arguments.")
    headers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text="One 'Name: value' per line.",
    )
    secret_headers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text="Stored encrypted and never shown again. Leave empty to keep the current ones.",
    )
    body_template = JsonField(required=False, help_text='JSON; "{name}" takes the argument.')
    timeout_seconds = forms.FloatField(min_value=0.1, max_value=60, initial=10)
    max_response_bytes = forms.IntegerField(
        min_value=256, max_value=10 * 1024 * 1024, initial=262144
    )
    response_fields = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Comma-separated paths, e.g. status, items.*.name",
    )
    allow_private_network = forms.BooleanField(
        required=False,
        label="Allow private and internal addresses (cloud metadata addresses stay refused)",
    )
    summary_template = forms.CharField(max_length=200, required=False, label="Visitor summary")
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    assistants = forms.ModelMultipleChoiceField(
        queryset=Assistant.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def clean_headers(self) -> dict[str, str]:
        return header_lines(self.cleaned_data.get("headers", ""))

    def clean_secret_headers(self) -> dict[str, str] | None:
        text = self.cleaned_data.get("secret_headers", "")
        return header_lines(text) if text.strip() else None

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "method": data["method"],
            "url_template": data["url_template"],
            "allowed_hosts": [h.strip() for h in data["allowed_hosts"].split(",") if h.strip()],
            "parameters": data["parameters"] or {"type": "object", "properties": {}},
            "headers": data["headers"],
            "body_template": data["body_template"],
            "timeout_seconds": data["timeout_seconds"],
            "max_response_bytes": data["max_response_bytes"],
            "response_fields": [f.strip() for f in data["response_fields"].split(",") if f.strip()],
            "allow_private_network": data["allow_private_network"],
            "summary_template": data["summary_template"],
        }
