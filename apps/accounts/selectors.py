"""Reads on people and API keys."""

from __future__ import annotations

from apps.accounts.models import ApiKey
from apps.accounts.services import API_KEY_PREFIX, api_key_secret_matches


def api_key_resolve(plaintext: str) -> ApiKey | None:
    """The active key matching ``sk_<prefix>_<secret>``, or None (same answer for all misses)."""
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = plaintext[len(API_KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    api_key = (
        ApiKey.objects.select_related("tenant")
        .filter(prefix=prefix, revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    if api_key is None or not api_key_secret_matches(api_key, secret):
        return None
    return api_key
