"""DRF authentication with tenant API keys. The key, not the host, decides the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiKey
from apps.accounts.selectors import api_key_resolve
from apps.accounts.services import api_key_touch


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """``request.user`` for API calls: the key itself acts, with its scopes."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.api_key.scopes or "admin" in self.api_key.scopes


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer sk_...``. Sets the connection to the key's tenant schema."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not token.strip():
            return None
        api_key = api_key_resolve(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key_touch(api_key=api_key)
        connection.set_tenant(api_key.tenant)  # type: ignore[attr-defined]
        request.tenant = api_key.tenant
        return (ApiKeyPrincipal(api_key), api_key)

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
