"""Writes on providers, model deployments and assistants.

Every write bumps the tenant's LLM configuration version, so each process rebuilds its
LiteLLM router on the next turn (see ``apps.llm.router``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from apps.core.encryption import last4
from apps.core.errors import Conflict, InvalidInput
from apps.llm.models import Assistant, ModelDeployment, Provider, ProviderKind

CONFIG_VERSION_KEY = "llm:config-version"
KEY_REQUIRED_KINDS = {ProviderKind.OPENAI, ProviderKind.ANTHROPIC}
ASSISTANT_FIELDS = {
    "system_prompt",
    "default_model",
    "fallback_models",
    "allow_cloud_fallback",
    "temperature",
    "max_tokens",
    "history_budget_tokens",
    "max_tool_steps",
    "retrieval_limit",
}


def llm_config_bump() -> None:
    """Mark the current tenant's LLM configuration (models, assistants, tools) as changed.

    Every process rebuilds its router on its next version check; this one at once.
    """
    from apps.llm.router import router_forget

    schema = connection.schema_name  # type: ignore[attr-defined]  # django-tenants backend

    def bump() -> None:
        cache.set(CONFIG_VERSION_KEY, uuid.uuid4().hex, None)
        router_forget(schema)

    transaction.on_commit(bump)


def check_provider(*, kind: str, api_base: str, api_key: str | None) -> str:
    if kind not in ProviderKind.values:
        raise InvalidInput(
            f"Unknown provider '{kind}'. Use one of: {', '.join(ProviderKind.values)}.",
            code="invalid_provider",
        )
    if kind == ProviderKind.OLLAMA and not api_base:
        api_base = settings.OLLAMA_BASE_URL
    if kind == ProviderKind.OPENAI_COMPATIBLE and not api_base:
        raise InvalidInput(
            "An OpenAI-compatible server needs its base URL (e.g. http://gpu-1:8000/v1).",
            code="api_base_required",
        )
    if kind in KEY_REQUIRED_KINDS and api_key is not None and not api_key.strip():
        raise InvalidInput(
            f"A {ProviderKind(kind).label} provider needs an API key.", code="api_key_required"
        )
    if api_base:
        check_provider_base_url(api_base)
    return api_base.rstrip("/")


def check_provider_base_url(api_base: str) -> None:
    """A provider URL never names a cloud metadata endpoint.

    Private and loopback addresses stay allowed (a local GPU running Ollama is the point), but
    metadata services hand out cloud credentials, so a provider may never point at one, by
    well-known name or by address (IPv4, IPv6 and the IPv6 forms that embed an IPv4 address).
    Names are not resolved here: the address is chosen by the HTTP client at connect time, so a
    save-time lookup would prove nothing (operators who fear DNS rebinding pin providers by IP).
    """
    from apps.tools import netguard

    # The URL's shape is the model field validator's job (it reports on the field).
    hostname = urlsplit(api_base.strip()).hostname
    if hostname and netguard.is_metadata_host(hostname):
        raise InvalidInput(
            "This base URL points at a cloud metadata service, which is never allowed.",
            code="api_base_not_allowed",
        )


@transaction.atomic
def provider_create(
    *, name: str, kind: str, api_base: str = "", api_key: str = "", timeout_seconds: int = 60
) -> Provider:
    api_base = check_provider(kind=kind, api_base=api_base, api_key=api_key)
    if Provider.objects.filter(name=name).exists():
        raise Conflict(f"A provider named '{name}' already exists.", code="duplicate_provider")
    provider = Provider(
        name=name,
        kind=kind,
        api_base=api_base,
        api_key=api_key.strip(),
        api_key_last4=last4(api_key.strip()),
        timeout_seconds=timeout_seconds,
    )
    provider.full_clean()
    provider.save()
    llm_config_bump()
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, api_key: str | None = None, **fields: Any) -> Provider:
    """Change a provider. ``api_key=None`` keeps the stored key; ``""`` clears it."""
    for field in ("name", "api_base", "timeout_seconds", "is_enabled"):
        if field in fields:
            setattr(provider, field, fields[field])
    provider.api_base = check_provider(
        kind=provider.kind, api_base=provider.api_base, api_key=api_key
    )
    if api_key is not None:
        provider.api_key = api_key.strip()
        provider.api_key_last4 = last4(api_key.strip())
    provider.full_clean()
    provider.save()
    llm_config_bump()
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider) -> None:
    provider.delete()
    llm_config_bump()


@transaction.atomic
def deployment_create(
    *,
    provider: Provider,
    model_name: str,
    alias: str = "",
    priority: int | None = None,
    supports_tools: bool = True,
    context_window: int | None = None,
) -> ModelDeployment:
    model_name = model_name.strip()
    if not model_name:
        raise InvalidInput("A model needs a name.", code="invalid_model")
    deployment = ModelDeployment(
        provider=provider,
        model_name=model_name,
        alias=(alias or model_name).strip(),
        # Local models run first; cloud ones are the fallback.
        priority=priority if priority is not None else (0 if provider.is_local else 10),
        supports_tools=supports_tools,
        context_window=context_window,
    )
    if ModelDeployment.objects.filter(
        provider=provider, model_name=deployment.model_name, alias=deployment.alias
    ).exists():
        raise Conflict(
            f"{provider.name} already serves '{model_name}' as '{deployment.alias}'.",
            code="duplicate_model",
        )
    deployment.full_clean()
    deployment.save()
    llm_config_bump()
    return deployment


@transaction.atomic
def deployment_delete(*, deployment: ModelDeployment) -> None:
    deployment.delete()
    llm_config_bump()


def _check_assistant_models(fields: dict[str, Any]) -> None:
    known = set(ModelDeployment.objects.values_list("alias", flat=True))
    wanted = [fields.get("default_model") or "", *(fields.get("fallback_models") or [])]
    unknown = [alias for alias in wanted if alias and alias not in known]
    if unknown:
        raise InvalidInput(f"Unknown model(s): {', '.join(unknown)}.", code="unknown_model")


@transaction.atomic
def assistant_create(*, name: str, is_default: bool = False, **fields: Any) -> Assistant:
    extra = set(fields) - ASSISTANT_FIELDS - {"knowledge_bases"}
    if extra:
        raise InvalidInput(f"Unknown assistant setting(s): {', '.join(sorted(extra))}.")
    if Assistant.objects.filter(name=name).exists():
        raise Conflict(f"An assistant named '{name}' already exists.", code="duplicate_assistant")
    _check_assistant_models(fields)
    knowledge_bases = fields.pop("knowledge_bases", None)
    if is_default or not Assistant.objects.filter(is_default=True).exists():
        Assistant.objects.filter(is_default=True).update(is_default=False)
        is_default = True
    assistant = Assistant(name=name, is_default=is_default, **fields)
    assistant.full_clean()
    assistant.save()
    if knowledge_bases is not None:
        assistant.knowledge_bases.set(knowledge_bases)
    llm_config_bump()
    return assistant


@transaction.atomic
def assistant_update(*, assistant: Assistant, **fields: Any) -> Assistant:
    knowledge_bases = fields.pop("knowledge_bases", None)
    make_default = fields.pop("is_default", False)
    extra = set(fields) - ASSISTANT_FIELDS - {"name"}
    if extra:
        raise InvalidInput(f"Unknown assistant setting(s): {', '.join(sorted(extra))}.")
    _check_assistant_models(
        {
            "default_model": fields.get("default_model"),
            "fallback_models": fields.get("fallback_models"),
        }
    )
    for field, value in fields.items():
        setattr(assistant, field, value)
    if make_default:
        Assistant.objects.exclude(pk=assistant.pk).filter(is_default=True).update(is_default=False)
        assistant.is_default = True
    assistant.full_clean()
    assistant.save()
    if knowledge_bases is not None:
        assistant.knowledge_bases.set(knowledge_bases)
    llm_config_bump()
    return assistant


@transaction.atomic
def assistant_delete(*, assistant: Assistant) -> None:
    """Delete an assistant; when it was the default, the first remaining one takes over.

    Conversations and widgets that used it keep working with the tenant's default.
    """
    was_default = assistant.is_default
    assistant.delete()
    if was_default:
        successor = Assistant.objects.order_by("name").first()
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default", "updated_at"])
    llm_config_bump()


def default_assistant_ensure() -> Assistant:
    """The tenant's default assistant, created with sensible settings when there is none."""
    assistant = Assistant.objects.filter(is_default=True).first()
    if assistant is not None:
        return assistant
    return assistant_create(name="Assistant", is_default=True)


@dataclass(frozen=True)
class ModelAdded:
    provider: Provider
    provider_created: bool
    deployment: ModelDeployment
    assistant_name: str = ""


@transaction.atomic
def model_add(
    *,
    kind: str,
    model_name: str,
    api_base: str = "",
    api_key: str = "",
    alias: str = "",
    priority: int | None = None,
    make_default: bool = False,
) -> ModelAdded:
    """Scriptable setup: find or create the provider, add the deployment, optionally default it."""
    api_base = check_provider(kind=kind, api_base=api_base, api_key=None)
    provider = Provider.objects.filter(kind=kind, api_base=api_base).first()
    created = provider is None
    if provider is None:
        name = (
            kind
            if not Provider.objects.filter(name=kind).exists()
            else f"{kind}-{Provider.objects.count() + 1}"
        )
        provider = provider_create(name=name, kind=kind, api_base=api_base, api_key=api_key)
    elif api_key:
        provider = provider_update(provider=provider, api_key=api_key)
    deployment = deployment_create(
        provider=provider, model_name=model_name, alias=alias, priority=priority
    )
    assistant_name = ""
    if make_default:
        assistant = default_assistant_ensure()
        assistant_update(assistant=assistant, default_model=deployment.alias)
        assistant_name = assistant.name
    return ModelAdded(provider, created, deployment, assistant_name)
