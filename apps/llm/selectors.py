"""Reads on providers, deployments and assistants (current tenant schema)."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.core.errors import NotFound
from apps.llm.models import Assistant, ModelDeployment


@dataclass(frozen=True)
class AssistantConfig:
    """A snapshot of an assistant's settings, safe to carry across threads during a turn."""

    id: int | None
    name: str
    system_prompt: str
    model_chain: tuple[str, ...]
    allow_cloud_fallback: bool
    temperature: float
    max_tokens: int
    history_budget_tokens: int
    max_tool_steps: int
    retrieval_limit: int
    knowledge_base_ids: tuple[int, ...] = field(default_factory=tuple)


def assistant_get(*, name: str | None = None) -> Assistant:
    """The named assistant, or the tenant's default one."""
    queryset = Assistant.objects.prefetch_related("knowledge_bases")
    assistant = (
        queryset.filter(name=name).first() if name else queryset.filter(is_default=True).first()
    )
    if assistant is None:
        if name:
            raise NotFound(f"No assistant named '{name}'.", code="assistant_not_found")
        assistant = queryset.order_by("id").first()
    if assistant is None:
        raise NotFound("This workspace has no assistant yet.", code="assistant_not_found")
    return assistant


def assistant_config(assistant: Assistant | None) -> AssistantConfig:
    if assistant is None:
        aliases = model_aliases()
        return AssistantConfig(
            id=None,
            name="",
            system_prompt="",
            model_chain=tuple(aliases[:1]),
            allow_cloud_fallback=False,
            temperature=0.3,
            max_tokens=1024,
            history_budget_tokens=3000,
            max_tool_steps=4,
            retrieval_limit=5,
        )
    chain = [assistant.default_model, *assistant.fallback_models]
    if not assistant.default_model:
        chain = [*model_aliases()[:1], *assistant.fallback_models]
    return AssistantConfig(
        id=assistant.pk,
        name=assistant.name,
        system_prompt=assistant.system_prompt,
        model_chain=tuple(dict.fromkeys(alias for alias in chain if alias)),
        allow_cloud_fallback=assistant.allow_cloud_fallback,
        temperature=assistant.temperature,
        max_tokens=assistant.max_tokens,
        history_budget_tokens=assistant.history_budget_tokens,
        max_tool_steps=assistant.max_tool_steps,
        retrieval_limit=assistant.retrieval_limit,
        knowledge_base_ids=tuple(kb.pk for kb in assistant.knowledge_bases.all()),
    )


def model_aliases() -> list[str]:
    """Enabled model aliases, local-first."""
    rows = (
        ModelDeployment.objects.filter(is_enabled=True, provider__is_enabled=True)
        .order_by("priority", "alias")
        .values_list("alias", flat=True)
    )
    return list(dict.fromkeys(rows))


def enabled_deployments() -> list[ModelDeployment]:
    return list(
        ModelDeployment.objects.filter(is_enabled=True, provider__is_enabled=True)
        .select_related("provider")
        .order_by("alias", "priority", "id")
    )
