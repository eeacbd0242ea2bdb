"""The LiteLLM Router of a tenant, built from its providers and deployments.

Deployments of one alias with the same priority form a model group that LiteLLM load-balances
(and retries, with cooldowns for failing deployments). A turn walks the assistant's groups in
order — local first, then cloud when allowed — and uses the first one that answers.

Routers are cached per process and per tenant, keyed by the tenant's configuration version
(``apps.llm.services.llm_config_bump``), so a turn costs one cache read, not a rebuild.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.llm.models import Assistant, ModelDeployment, ProviderKind
from apps.llm.selectors import AssistantConfig, assistant_config, enabled_deployments
from apps.llm.services import CONFIG_VERSION_KEY

if TYPE_CHECKING:
    from litellm import Router

# OpenAI-compatible servers go through LiteLLM's own HTTP handler ("hosted_vllm"), not the
# OpenAI SDK: the SDK re-walks every request message against its typed schema, which cost
# 4-13 ms per turn with a 20-message history here (docs/benchmarks.md).
LITELLM_PREFIX = {
    ProviderKind.OPENAI: "openai",
    ProviderKind.ANTHROPIC: "anthropic",
    ProviderKind.OLLAMA: "ollama_chat",
    ProviderKind.OPENAI_COMPATIBLE: "hosted_vllm",
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
    """A tenant's router plus per-version memos of what every turn would otherwise query."""

    version: str
    router: Router
    groups: dict[str, list[ModelGroup]]  # alias -> groups by ascending priority
    _assistants: dict[int | None, AssistantConfig] = field(default_factory=dict)
    _tools: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)

    def assistant(self, assistant_id: int | None) -> AssistantConfig:
        """The assistant's settings as of this configuration version (one query, then memo)."""
        config = self._assistants.get(assistant_id)
        if config is None:
            assistant = None
            if assistant_id is not None:
                assistant = (
                    Assistant.objects.prefetch_related("knowledge_bases")
                    .filter(pk=assistant_id)
                    .first()
                )
            config = assistant_config(assistant)
            self._assistants[assistant_id] = config
        return config

    def tool_specs(self, assistant_id: int | None) -> list[dict[str, Any]]:
        """The function specs offered to the model for this assistant (memo per version)."""
        specs = self._tools.get(assistant_id)
        if specs is None:
            from apps.tools.registry import tools_for_assistant

            assistant = Assistant.objects.filter(pk=assistant_id).first() if assistant_id else None
            specs = [spec.as_openai() for spec in tools_for_assistant(assistant)]
            self._tools[assistant_id] = specs
        return specs

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


def _register_local_model(deployment: ModelDeployment) -> None:
    """Tell LiteLLM's model map about a model on a local server (Ollama, or an
    OpenAI-compatible one such as vLLM or llama.cpp): free, a chat model.

    LiteLLM looks up a model's info many times per request (cost, usage, routing). For an
    Ollama model missing from its map, it asks Ollama's own model info first, which rebuilds
    a lower-cased copy of the whole map (~4,000 names) each time: ~36 times per streamed turn.
    Registered, the lookups stop at the map. Measured with the loopback server: time to first
    token 25 -> 12 ms, CPU per turn 52 -> 25 ms (docs/benchmarks.md). For an OpenAI-compatible
    model missing from the map, each turn's end walks LiteLLM's diagnostic of why the cost is
    zero; registered as free, it stops at once (0.8-3.5 ms of CPU per turn).

    LiteLLM keys an Ollama entry by the bare model name, shared by every tenant in the
    process, and an OpenAI-compatible one by ``hosted_vllm/<name>``. A key the map already
    has is not registered again: neither at the next router build (a registration makes its
    own model-info lookup) nor for an Ollama copy named like a priced cloud model, whose
    price LiteLLM keeps.
    """
    import litellm

    kind = ProviderKind(deployment.provider.kind)
    prefix = LITELLM_PREFIX[kind]
    name = f"{prefix}/{deployment.model_name}"
    key = deployment.model_name if kind == ProviderKind.OLLAMA else name
    if key in litellm.model_cost:
        return
    litellm.register_model(
        {
            name: {
                "litellm_provider": prefix,
                "mode": "chat",
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
            }
        }
    )


def _build(version: str) -> TenantRouter:
    from litellm import Router

    model_list = []
    by_group: dict[str, list[ModelDeployment]] = {}
    for deployment in enabled_deployments():
        if deployment.provider.is_local:
            _register_local_model(deployment)
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


_version_checked: dict[str, float] = {}


def tenant_router() -> TenantRouter:
    """The current tenant's router, rebuilt only when its configuration changed.

    The shared version is read from the cache at most every ``LLM_CONFIG_RECHECK_SECONDS``
    per process, so a change reaches every node within that time.
    """
    schema = connection.schema_name  # type: ignore[attr-defined]  # django-tenants backend
    current = _cache.get(schema)
    now = time.monotonic()
    if (
        current is not None
        and now - _version_checked.get(schema, 0.0) < settings.LLM_CONFIG_RECHECK_SECONDS
    ):
        return current
    version = cache.get(CONFIG_VERSION_KEY)
    if version is None:
        version = "initial"
        cache.add(CONFIG_VERSION_KEY, version, None)
    _version_checked[schema] = now
    if current is not None and current.version == version:
        return current
    with _lock:
        current = _cache.get(schema)
        if current is None or current.version != version:
            current = _build(version)
            _cache[schema] = current
    return current


def router_forget(schema: str) -> None:
    """Drop this process's memo for ``schema`` (after a configuration change made here)."""
    _cache.pop(schema, None)
    _version_checked.pop(schema, None)
