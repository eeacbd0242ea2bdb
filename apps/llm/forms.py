"""Backoffice forms for providers, models and assistants.

Forms check the shape of the input; the rules live in ``apps.llm.services``. Coded errors the
services raise are put back on the field they are about (``add_service_error``), so a person
sees "A provider named 'gpu' already exists." under the name field, not a traceback.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.errors import AppError
from apps.knowledge.models import KnowledgeBase
from apps.llm.models import Assistant, ModelDeployment, Provider, ProviderKind

# Service error code -> the form field it is about (others go to the top of the form).
FIELD_FOR_CODE = {
    "duplicate_provider": "name",
    "invalid_provider": "kind",
    "api_base_required": "api_base",
    "api_base_not_allowed": "api_base",
    "api_key_required": "api_key",
    "duplicate_model": "model_name",
    "invalid_model": "model_name",
    "duplicate_assistant": "name",
    "invalid_model_name": "model",
}


def add_service_error(form: forms.Form, exc: AppError | ValidationError) -> None:
    """Show a service's error on the field it concerns (or above the form)."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return
    field = FIELD_FOR_CODE.get(exc.code)
    if exc.code == "unknown_model":
        default = form.cleaned_data.get("default_model") if hasattr(form, "cleaned_data") else ""
        field = "default_model" if default and default in exc.message else "fallback_models"
    form.add_error(field if field and field in form.fields else None, exc.message)


def all_aliases() -> list[str]:
    """Every configured alias (enabled or not), local-first, as the services accept them."""
    rows = ModelDeployment.objects.order_by("priority", "alias").values_list("alias", flat=True)
    return list(dict.fromkeys(rows))


def _number(minimum: float, maximum: float, **kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(min_value=int(minimum), max_value=int(maximum), **kwargs)


class ProviderForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="A name you recognise, e.g. gpu-1.")
    kind = forms.ChoiceField(choices=ProviderKind.choices, label="Provider")
    api_base = forms.CharField(
        max_length=200,
        required=False,
        label="Base URL",  # help_text: set per instance, from OLLAMA_BASE_URL
    )
    api_key = forms.CharField(
        required=False,
        label="API key",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; only its last 4 characters are shown again.",
    )
    timeout_seconds = _number(1, 600, initial=60, label="Timeout (seconds)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[
            "api_base"
        ].help_text = (
            f"Ollama: {settings.OLLAMA_BASE_URL} (the default). vLLM: http://gpu-1.lan:8000/v1."
        )


class ProviderEditForm(ProviderForm):
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")
    is_enabled = forms.BooleanField(required=False, label="Enabled")

    def __init__(self, *args: Any, provider: Provider, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].disabled = True
        self.fields["kind"].required = False
        hint = f"Stored: …{provider.api_key_last4}." if provider.api_key_last4 else "None stored."
        self.fields["api_key"].help_text = f"{hint} Leave empty to keep the stored key."

    def api_key_change(self) -> str | None:
        """None keeps the stored key, "" removes it, anything else replaces it."""
        if self.cleaned_data.get("clear_api_key"):
            return ""
        return self.cleaned_data.get("api_key") or None


class DeploymentForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=Provider.objects.none(), empty_label=None)
    model_name = forms.CharField(
        max_length=200, label="Model id", help_text="The provider's id, e.g. llama3.2:3b."
    )
    alias = forms.CharField(
        max_length=100,
        required=False,
        help_text="The name assistants use (defaults to the model id). Share it to load-balance.",
    )
    priority = _number(
        0, 100, required=False, help_text="Lower runs first. Empty: local 0, cloud 10."
    )
    context_window = forms.IntegerField(min_value=1, required=False, label="Context window")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Evaluated per request, in the current tenant's schema.
        self.fields["provider"].queryset = Provider.objects.order_by("name")  # type: ignore[attr-defined]


class AssistantForm(forms.Form):
    name = forms.CharField(max_length=100)
    default_model = forms.ChoiceField(
        required=False,
        label="Model",
        help_text="Empty: the first available model, local first.",
    )
    fallback_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Fallback models",
        help_text="Tried in order (local first) when the model does not answer.",
    )
    allow_cloud_fallback = forms.BooleanField(
        required=False,
        label="Allow cloud fallback",
        help_text="Off: when a local model exists, conversations never leave your servers.",
    )
    temperature = forms.FloatField(min_value=0.0, max_value=2.0, initial=0.3)
    max_tokens = _number(1, 200_000, initial=1024, label="Max answer tokens")
    history_budget_tokens = _number(0, 1_000_000, initial=3000, label="History budget (tokens)")
    max_tool_steps = _number(0, 20, initial=4, label="Tool steps per answer")
    retrieval_limit = _number(0, 50, initial=5, label="Passages retrieved")
    knowledge_bases = forms.ModelMultipleChoiceField(
        queryset=KnowledgeBase.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Knowledge bases",
    )
    system_prompt = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        label="System prompt",
        help_text="Empty: a short, careful default prompt.",
    )
    is_default = forms.BooleanField(required=False, label="Default assistant")

    def __init__(self, *args: Any, assistant: Assistant | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(alias, alias) for alias in all_aliases()]
        if assistant is not None:
            # Keep a model the assistant names but nobody serves any more visible (and
            # selected), so saving explains the problem instead of silently dropping it.
            known = {alias for alias, _ in choices}
            for alias in [assistant.default_model, *assistant.fallback_models]:
                if alias and alias not in known:
                    choices.append((alias, f"{alias} (no longer configured)"))
                    known.add(alias)
        self.fields["default_model"].choices = [("", "First available model"), *choices]  # type: ignore[attr-defined]
        self.fields["fallback_models"].choices = choices  # type: ignore[attr-defined]
        self.fields["knowledge_bases"].queryset = KnowledgeBase.objects.order_by("name")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default = data.get("default_model")
        if default and default in (data.get("fallback_models") or []):
            self.add_error("fallback_models", "The model itself cannot also be its fallback.")
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        order = {alias: index for index, alias in enumerate(all_aliases())}
        return {
            "system_prompt": data["system_prompt"],
            "default_model": data["default_model"],
            "fallback_models": sorted(data["fallback_models"], key=lambda a: order.get(a, 0)),
            "allow_cloud_fallback": data["allow_cloud_fallback"],
            "temperature": data["temperature"],
            "max_tokens": data["max_tokens"],
            "history_budget_tokens": data["history_budget_tokens"],
            "max_tool_steps": data["max_tool_steps"],
            "retrieval_limit": data["retrieval_limit"],
            "knowledge_bases": list(data["knowledge_bases"]),
        }


class OllamaPullForm(forms.Form):
    model = forms.CharField(
        max_length=200,
        label="Model",
        widget=forms.TextInput(attrs={"placeholder": "llama3.2:3b", "autocomplete": "off"}),
    )
