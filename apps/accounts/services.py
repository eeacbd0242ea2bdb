"""Writes on people and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts.models import ApiKey, User
from apps.core.errors import InvalidInput
from apps.core.keys import random_token
from apps.tenants.models import Tenant

API_KEY_PREFIX = "sk_"
API_KEY_SCOPES = ("chat", "read", "write", "admin")


@dataclass(frozen=True)
class UserEnsured:
    user: User
    created: bool
    generated_password: str | None


def user_ensure(*, email: str, password: str | None = None) -> UserEnsured:
    """Return the person with this email, creating them (with a password) when new.

    An existing person's password is never changed here.
    """
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput(
            f"'{email}' is not a valid email address.", code="invalid_email"
        ) from exc
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        return UserEnsured(existing, created=False, generated_password=None)
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = User(email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    return UserEnsured(user, created=True, generated_password=generated)


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyCreated:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *, tenant: Tenant, name: str, scopes: list[str] | None = None, created_by: User | None = None
) -> ApiKeyCreated:
    scopes = list(scopes or ["chat", "read"])
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown:
        raise InvalidInput(
            f"Unknown scope(s): {', '.join(unknown)}. Valid: {', '.join(API_KEY_SCOPES)}.",
            code="invalid_scope",
        )
    if not name.strip():
        raise InvalidInput("An API key needs a name.", code="invalid_name")
    prefix, secret = random_token(12), random_token(40)
    api_key = ApiKey(
        tenant=tenant,
        name=name.strip(),
        prefix=prefix,
        secret_hash=api_key_hash(secret),
        scopes=scopes,
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    return ApiKeyCreated(api_key, f"{API_KEY_PREFIX}{prefix}_{secret}")


def api_key_secret_matches(api_key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(api_key.secret_hash, api_key_hash(secret))
