"""Custom HTTP tools: a call to one of the tenant's services, described to the model."""

from __future__ import annotations

import json

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.core.fields import EncryptedTextField

TOOL_NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$"


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"


class HttpTool(models.Model):
    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(TOOL_NAME_RE, "Letters, digits and _, starting with a letter.")],
    )
    description = models.TextField(help_text="Tells the model when to use this tool.")
    # JSON schema (type=object) of the arguments the model passes.
    parameters = models.JSONField(default=dict)
    method = models.CharField(max_length=8, choices=HttpMethod.choices, default=HttpMethod.GET)
    # https://api.example.com/orders/{order_id}?lang={lang}; {visitor_id} is the verified visitor.
    url_template = models.CharField(max_length=2000)
    # Plain headers (name -> value); values may use {visitor_id}.
    headers = models.JSONField(default=dict, blank=True)
    # Secret headers (name -> value) as an encrypted JSON object; only names are ever shown.
    secret_headers = EncryptedTextField(blank=True)
    secret_header_names = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    # JSON body; strings "{name}" become the argument's value (typed), never string-spliced SQL.
    body_template = models.JSONField(null=True, blank=True)
    timeout_seconds = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(60.0)]
    )
    max_response_bytes = models.PositiveIntegerField(
        default=262_144, validators=[MinValueValidator(256), MaxValueValidator(10 * 1024 * 1024)]
    )
    # Dotted paths of the JSON response returned to the model ("status", "items.*.name");
    # empty returns the whole (capped) response.
    response_fields = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    allowed_hosts = ArrayField(models.CharField(max_length=253), default=list)
    # Off by default: private, loopback and internal addresses are refused unless ticked.
    # Cloud metadata addresses are refused even then.
    allow_private_network = models.BooleanField(default=False)
    summary_template = models.CharField(max_length=200, blank=True)
    is_enabled = models.BooleanField(default=True)
    assistants = models.ManyToManyField("llm.Assistant", blank=True, related_name="http_tools")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_secret_headers(self) -> dict[str, str]:
        if not self.secret_headers:
            return {}
        value = json.loads(self.secret_headers)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
