"""Widgets are tenant data: each one is an embeddable chat with its own key and origins."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.fields import EncryptedTextField


class Widget(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    embed_key = models.CharField(max_length=64, unique=True)
    # Exact origins ("https://shop.acme.com:443"); "*.acme.com" only when wildcard is allowed.
    allowed_origins = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    allow_wildcard_subdomains = models.BooleanField(default=False)
    # Signs visitor identities (HMAC-SHA256). Encrypted at rest.
    identity_secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
