"""The LiteLLM Router of a tenant, built from its providers and deployments.

Deployments of one alias with the same priority form a model group that LiteLLM load-balances
(and retries, with cooldowns for failing deployments). A turn walks the assistant's groups in
order — local first, then cloud when allowed — and uses the first one that answers.

Routers are cached per process and per tenant, keyed by the tenant's configuration version
(``apps.llm.services.llm_config_bump``), so a turn costs one cache read, not a rebuild.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.llm.models import ModelDeployment, ProviderKind
from apps.llm.selectors import AssistantConfig, enabled_deployments
from apps.llm.services import CONFIG_VERSION_KEY

if TYPE_CHECKING:
    from litellm import Router

LITELLM_PREFIX = {
    ProviderKind.OPENAI: "openai",
    ProviderKind.ANTHROPIC: "anthropic",
    ProviderKind.OLLAMA: "ollama_chat",
    ProviderKind.OPENAI_COMPATIBLE: "openai",
}


@dataclass(frozen=True)
class ModelGroup:
    name: str  # the Router's model_name, e.g. "chat|0"
    alias: str
    is_local: bool
    provider_names: tuple[str, ...]
    model_names: tuple[str, ...]


@dataclass(frozen=True)
class TenantRouter:
    version: str
    router: Router
    groups: dict[str, list[ModelGroup]]  # alias -> groups by ascending priority

    def chain_for(self, config: AssistantConfig) -> list[ModelGroup]:
        """The groups to try for an assistant, in order."""
        ordered = [group for alias in config.model_chain for group in self.groups.get(alias, [])]
        has_local = any(group.is_local for group in ordered)
        if has_local and not config.allow_cloud_fallback:
            # Local-first tenants keep data in the building unless they opted into cloud.
            ordered = [group for group in ordered if group.is_local]
        return ordered


_cache: dict[str, TenantRouter] = {}
_lock = threading.Lock()


def deployment_params(deployment: ModelDeployment) -> dict[str, Any]:
    provider = deployment.provider
    params: dict[str, Any] = {
        "model": f"{LITELLM_PREFIX[ProviderKind(provider.kind)]}/{deployment.model_name}",
        "timeout": provider.timeout_seconds,
        "stream_timeout": provider.timeout_seconds,
    }
    if provider.api_base:
        params["api_base"] = provider.api_base
    if provider.api_key:
        params["api_key"] = provider.api_key
    elif provider.kind == ProviderKind.OPENAI_COMPATIBLE:
        params["api_key"] = "not-needed"  # the OpenAI client insists on a key
    return params


def _build(version: str) -> TenantRouter:
    from litellm import Router

    model_list = []
    by_group: dict[str, list[ModelDeployment]] = {}
    for deployment in enabled_deployments():
        group = f"{deployment.alias}|{deployment.priority}"
        by_group.setdefault(group, []).append(deployment)
        model_list.append(
            {
                "model_name": group,
                "litellm_params": deployment_params(deployment),
                "model_info": {
                    "id": str(deployment.pk),
                    "provider_name": deployment.provider.name,
                    "model_name": deployment.model_name,
                    "is_local": deployment.provider.is_local,
                },
            }
        )
    groups: dict[str, list[ModelGroup]] = {}
    for name, members in sorted(by_group.items(), key=lambda item: item[1][0].priority):
        groups.setdefault(members[0].alias, []).append(
            ModelGroup(
                name=name,
                alias=members[0].alias,
                is_local=all(member.provider.is_local for member in members),
                provider_names=tuple(member.provider.name for member in members),
                model_names=tuple(member.model_name for member in members),
            )
        )
    router = Router(
        model_list=model_list,
        num_retries=settings.LLM_NUM_RETRIES,
        allowed_fails=settings.LLM_ALLOWED_FAILS,
        cooldown_time=settings.LLM_COOLDOWN_SECONDS,
    )
    return TenantRouter(version=version, router=router, groups=groups)


def tenant_router() -> TenantRouter:
    """The current tenant's router, rebuilt only when its configuration changed."""
    schema = connection.schema_name  # type: ignore[attr-defined]  # django-tenants backend
    version = cache.get(CONFIG_VERSION_KEY)
    if version is None:
        version = "initial"
        cache.add(CONFIG_VERSION_KEY, version, None)
    current = _cache.get(schema)
    if current is not None and current.version == version:
        return current
    with _lock:
        current = _cache.get(schema)
        if current is None or current.version != version:
            current = _build(version)
            _cache[schema] = current
    return current
