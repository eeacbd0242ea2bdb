"""LLM providers, the models they serve, and assistants that use them (tenant data)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.fields import EncryptedTextField


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OLLAMA = "ollama", "Ollama (local)"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server (vLLM, llama.cpp, ...)"


LOCAL_PROVIDER_KINDS = {ProviderKind.OLLAMA, ProviderKind.OPENAI_COMPATIBLE}


def validate_base_url(value: str) -> None:
    """An http(s) URL with a host; single-label hosts (``ollama``) are fine."""
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValidationError("Enter a valid URL such as http://ollama:11434.") from exc
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationError("Enter a valid URL such as http://ollama:11434.")


class Provider(models.Model):
    """Where models are served: a cloud account or a server on the tenant's network."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    # A CharField, not a URLField: on-premises hosts are often single-label names
    # (http://ollama:11434 in docker compose, http://gpu-1:8000/v1 on a LAN).
    api_base = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_base_url],
        help_text="Ollama: http://127.0.0.1:11434",
    )
    api_key = EncryptedTextField(blank=True)
    api_key_last4 = models.CharField(max_length=4, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=60)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.kind in LOCAL_PROVIDER_KINDS


class ModelDeployment(models.Model):
    """One model on one provider. Deployments sharing an ``alias`` are load-balanced."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="deployments")
    alias = models.CharField(
        max_length=100, help_text="The name assistants use; share it to load-balance."
    )
    model_name = models.CharField(max_length=200, help_text="The provider's model id.")
    # Lower runs first: local deployments usually get 0, cloud ones 10.
    priority = models.PositiveSmallIntegerField(default=0)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    supports_tools = models.BooleanField(default=True)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias", "priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_name", "alias"], name="deployment_unique_per_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.alias} → {self.provider.name}:{self.model_name}"


class Assistant(models.Model):
    """How the assistant answers: model, fallbacks, prompt, budgets, knowledge and tools."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)
    system_prompt = models.TextField(blank=True)
    default_model = models.CharField(max_length=100, blank=True, help_text="A model alias.")
    fallback_models = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    # Cloud deployments are used only when this is on (local-first, privacy by default).
    allow_cloud_fallback = models.BooleanField(default=False)
    temperature = models.FloatField(
        default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(default=1024)
    history_budget_tokens = models.PositiveIntegerField(default=3000)
    max_tool_steps = models.PositiveSmallIntegerField(default=4)
    retrieval_limit = models.PositiveSmallIntegerField(default=5)
    knowledge_bases = models.ManyToManyField(
        "knowledge.KnowledgeBase", blank=True, related_name="assistants"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="assistant_single_default",
            )
        ]

    def __str__(self) -> str:
        return self.name
