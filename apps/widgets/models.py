"""Widgets are tenant data: each one is an embeddable chat with its own key and origins."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

from apps.core.fields import EncryptedTextField

COLOR_VALIDATOR = RegexValidator(
    r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$", "Use a hex colour such as #4f46e5."
)


class Position(models.TextChoices):
    RIGHT = "right", "Bottom right"
    LEFT = "left", "Bottom left"


class LauncherIcon(models.TextChoices):
    CHAT = "chat", "Chat bubble"
    HELP = "help", "Question mark"
    SPARKLE = "sparkle", "Sparkle"


class DarkMode(models.TextChoices):
    AUTO = "auto", "Follow the visitor's system"
    LIGHT = "light", "Always light"
    DARK = "dark", "Always dark"


class Language(models.TextChoices):
    AUTO = "auto", "The page's language"
    EN = "en", "English"
    FR = "fr", "Français"
    DE = "de", "Deutsch"
    ES = "es", "Español"


class Widget(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    embed_key = models.CharField(max_length=64, unique=True)
    is_enabled = models.BooleanField(default=True)
    assistant = models.ForeignKey(
        "llm.Assistant", null=True, blank=True, on_delete=models.SET_NULL, related_name="widgets"
    )
    # Exact origins ("https://shop.acme.com", with a port when not the default one);
    # "https://*.acme.com" matches subdomains only when wildcards are allowed.
    allowed_origins = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    allow_wildcard_subdomains = models.BooleanField(default=False)
    # Signs visitor identities (HMAC-SHA256 or HS256 JWT). Encrypted at rest.
    identity_secret = EncryptedTextField()
    # Display settings (the only thing the public config endpoint returns).
    title = models.CharField(max_length=80, blank=True)
    greeting = models.TextField(blank=True, max_length=1000)
    starter_questions = ArrayField(
        models.CharField(max_length=120), default=list, blank=True, size=4
    )
    primary_color = models.CharField(max_length=9, default="#4f46e5", validators=[COLOR_VALIDATOR])
    text_on_primary_color = models.CharField(
        max_length=9, default="#ffffff", validators=[COLOR_VALIDATOR]
    )
    logo_url = models.URLField(blank=True)
    position = models.CharField(max_length=8, choices=Position.choices, default=Position.RIGHT)
    launcher_icon = models.CharField(
        max_length=8, choices=LauncherIcon.choices, default=LauncherIcon.CHAT
    )
    dark_mode = models.CharField(max_length=8, choices=DarkMode.choices, default=DarkMode.AUTO)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.AUTO)
    show_sources = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
