"""System checks: sign-in settings that are wrong fail at start-up, not at someone's sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from apps.accounts.directory import role_groups_parse


@checks.register(checks.Tags.security)
def check_ldap_role_groups(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        role_groups_parse(getattr(settings, "LDAP_ROLE_GROUPS", ""))
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="accounts.E001")]
    if settings.LDAP_ROLE_GROUPS and not getattr(settings, "AUTH_LDAP_SERVER_URI", ""):
        return [
            checks.Warning(
                "LDAP_ROLE_GROUPS is set but LDAP_SERVER_URI is not: directory sign-in is off.",
                id="accounts.W001",
            )
        ]
    return []
