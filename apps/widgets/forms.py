"""The backoffice form for a widget's settings.

The form checks the shape of the input (lengths, choices, one origin per line) and, so that
every mistake shows at once, applies the model's colour validator and the service's
``check_origins`` per field; ``apps.widgets.services.widget_update`` still validates the whole
widget. Errors it raises are put back on the field they are about (``add_service_error``), so
a person sees the message under the field, not a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from apps.core.errors import AppError, InvalidInput
from apps.llm.models import Assistant
from apps.widgets.models import (
    COLOR_VALIDATOR,
    DarkMode,
    Language,
    LauncherIcon,
    Position,
    Widget,
)
from apps.widgets.services import check_origins

STARTER_FIELDS = ("starter_1", "starter_2", "starter_3", "starter_4")
STARTER_EXAMPLES = (
    "Where is my order?",
    "How do refunds work?",
    "Can I change my plan?",
    "How do I reach a person?",
)
# Widget fields the form edits under the same name (the rest are mapped explicitly).
DISPLAY_FIELDS = (
    "title", "greeting", "primary_color", "text_on_primary_color", "logo_url", "position",
    "launcher_icon", "dark_mode", "language", "show_sources", "is_enabled",
    "allow_wildcard_subdomains",
)  # fmt: skip
# Service error code or model field -> the form field it is about (others go above the form).
FIELD_FOR_ERROR = {
    "invalid_origin": "allowed_origins",
    "starter_questions": "starter_1",
    "identity_secret": None,
    "embed_key": None,
}
HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def add_service_error(form: forms.Form, exc: AppError | ValidationError) -> None:
    """Show a service's error on the field it concerns (or above the form)."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                field = FIELD_FOR_ERROR.get(name, name)
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return
    field = FIELD_FOR_ERROR.get(exc.code)
    form.add_error(field if field in form.fields else None, exc.message)


def check_origin_host(line: str) -> None:
    """Reject host names no browser sends (spaces, ``a.*.com``, ``*.com``).

    ``apps.widgets.services.check_origins`` checks scheme, port and path; this adds the
    shape of the host, so a typo is caught here rather than silently never matching.
    """
    text = line.strip().lower()
    wildcard = "://*." in text
    try:
        host = urlsplit(text.replace("://*.", "://", 1)).hostname or ""
    except ValueError:
        return  # the service explains what an origin looks like
    if not host:
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        if not all(HOST_LABEL_RE.match(label) for label in labels):
            raise ValidationError(
                f"'{line.strip()}' has an invalid host name; only a leading '*.' may be a wildcard."
            ) from None
        if wildcard and len(labels) < 2:
            raise ValidationError(
                f"'{line.strip()}' is too broad: a wildcard needs a domain such as *.example.com."
            ) from None
    else:
        if wildcard:
            raise ValidationError(f"'{line.strip()}': an IP address cannot have subdomains.")


class ColorInput(forms.TextInput):
    """A hex text box paired with the browser's colour picker (see widgets/_color_field.html)."""

    def __init__(self) -> None:
        super().__init__(
            attrs={
                "class": "mono wg-color-text",
                "maxlength": 9,
                "spellcheck": "false",
                "autocomplete": "off",
                "pattern": "#[0-9a-fA-F]{3,8}",
            }
        )


class WidgetSettingsForm(forms.Form):
    title = forms.CharField(
        max_length=80,
        required=False,
        help_text="Shown in the chat header. Empty: “Chat” in the visitor's language.",
        widget=forms.TextInput(attrs={"placeholder": "Acme Support"}),
    )
    logo_url = forms.URLField(
        max_length=200,
        required=False,
        assume_scheme="https",
        label="Logo URL",
        help_text="A square image, https. Shown next to the title.",
        widget=forms.URLInput(attrs={"placeholder": "https://www.example.com/logo.png"}),
    )
    # The model's own validator: the service would refuse the same values, but checking
    # here too shows a bad colour together with any other mistake, not one at a time.
    primary_color = forms.CharField(
        max_length=9, label="Brand colour", widget=ColorInput(), validators=[COLOR_VALIDATOR]
    )
    text_on_primary_color = forms.CharField(
        max_length=9,
        label="Text on brand colour",
        widget=ColorInput(),
        validators=[COLOR_VALIDATOR],
    )
    position = forms.ChoiceField(
        choices=Position.choices, widget=forms.RadioSelect, label="Position"
    )
    launcher_icon = forms.ChoiceField(
        choices=LauncherIcon.choices, widget=forms.RadioSelect, label="Launcher icon"
    )
    dark_mode = forms.ChoiceField(choices=DarkMode.choices, label="Colour scheme")
    greeting = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Shown before the first message. Markdown: **bold**, links.",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Hi! Ask me anything about your orders."}
        ),
    )
    starter_1 = forms.CharField(max_length=120, required=False, label="Starter question 1")
    starter_2 = forms.CharField(max_length=120, required=False, label="Starter question 2")
    starter_3 = forms.CharField(max_length=120, required=False, label="Starter question 3")
    starter_4 = forms.CharField(max_length=120, required=False, label="Starter question 4")
    language = forms.ChoiceField(choices=Language.choices, label="Language")
    assistant = forms.ModelChoiceField(
        queryset=Assistant.objects.none(),
        required=False,
        label="Assistant",
        empty_label="The default assistant",
        help_text="Its model, prompt and knowledge answer this widget's visitors.",
    )
    show_sources = forms.BooleanField(
        required=False,
        label="Show sources",
        help_text="List the documents an answer is based on under it.",
    )
    allowed_origins = forms.CharField(
        required=False,
        label="Allowed origins",
        help_text="One per line: https://shop.example.com (add :port when it is not 443).",
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "class": "mono",
                "spellcheck": "false",
                "placeholder": "https://www.example.com\nhttps://app.example.com",
            }
        ),
    )
    allow_wildcard_subdomains = forms.BooleanField(
        required=False,
        label="Allow subdomain wildcards",
        help_text="Lets a rule such as https://*.example.com match every subdomain.",
    )
    is_enabled = forms.BooleanField(
        required=False,
        label="Enabled",
        help_text="When off, the widget shows as unavailable on every site.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assistants = Assistant.objects.order_by("name")
        field = self.fields["assistant"]
        field.queryset = assistants  # type: ignore[attr-defined]
        default = assistants.filter(is_default=True).first()
        if default is not None:
            field.empty_label = f"The default assistant ({default.name})"  # type: ignore[attr-defined]
        for index, name in enumerate(STARTER_FIELDS):
            self.fields[name].widget.attrs["placeholder"] = f"e.g. {STARTER_EXAMPLES[index]}"

    @classmethod
    def for_widget(cls, widget: Widget) -> WidgetSettingsForm:
        initial: dict[str, Any] = {name: getattr(widget, name) for name in DISPLAY_FIELDS}
        questions = list(widget.starter_questions)[: len(STARTER_FIELDS)]
        initial.update(zip(STARTER_FIELDS, questions, strict=False))
        initial["assistant"] = widget.assistant_id
        initial["allowed_origins"] = "\n".join(widget.allowed_origins)
        return cls(initial=initial)

    def clean_allowed_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_origins"].splitlines()]
        lines = [line for line in lines if line]
        errors = []
        for line in lines:
            try:
                check_origin_host(line)
                check_origins([line])
            except ValidationError as exc:
                errors.extend(exc.messages)
            except InvalidInput as exc:
                errors.append(exc.message)
        if errors:
            raise ValidationError(errors)
        return lines

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        origins = data.get("allowed_origins") or []
        wildcards = [line for line in origins if "://*." in line]
        if wildcards and not data.get("allow_wildcard_subdomains"):
            # The service stores such a rule, but it never matches without the opt-in: a
            # person who typed one meant it to work.
            self.add_error(
                "allowed_origins",
                f"{wildcards[0]} only works with “Allow subdomain wildcards” ticked.",
            )
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``widget_update`` for the cleaned data."""
        data = self.cleaned_data
        kwargs: dict[str, Any] = {name: data[name] for name in DISPLAY_FIELDS}
        for name in ("title", "greeting", "primary_color", "text_on_primary_color"):
            kwargs[name] = kwargs[name].strip()
        kwargs["starter_questions"] = [
            data[name].strip() for name in STARTER_FIELDS if data[name].strip()
        ]
        kwargs["allowed_origins"] = data["allowed_origins"]
        kwargs["assistant"] = data["assistant"]
        return kwargs
