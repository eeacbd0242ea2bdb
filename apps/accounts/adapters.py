"""django-allauth adapters: how sign-in behaves in this product.

- Nobody signs up: people join a tenant by invitation (or are created by operators, commands
  and the directory), so every sign-up path is closed.
- People whose password belongs to the LDAP / Active Directory server get a "your directory
  manages your password" email instead of a reset link.
- OIDC single sign-on only signs in existing accounts whose verified address matches an
  address the provider vouches for; it never creates an account.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name, schema_context


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """A sign-in with password or code moments ago is as fresh as a re-authentication:
        someone sent to set up two-factor right after signing in is not asked again."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = context.request
        if request is None or not request.user.is_authenticated:
            return True
        timeout = account_settings.REAUTHENTICATION_TIMEOUT
        return not any(
            record.get("method") in ("password", "mfa")
            and time.time() - float(record.get("at", 0)) < timeout
            for record in get_authentication_records(request, request.user)
        )

    # Failed sign-ins are counted once per account for the whole platform. allauth keys its
    # counter by host, and our cache keys carry the tenant's schema: both would give an
    # attacker a fresh allowance on every tenant host. So the key is the address alone, and
    # the counting happens in the public schema's cache namespace.

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        login = str(credentials.get("email") or credentials.get("username") or "").lower()
        return f"login:{login}"

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        with schema_context(get_public_schema_name()):
            super().pre_authenticate(request, **credentials)

    def _rollback_login_failed_rl_usage(self) -> None:
        with schema_context(get_public_schema_name()):
            super()._rollback_login_failed_rl_usage()

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        with schema_context(get_public_schema_name()):
            super()._delete_login_attempts_cached_email(request, **credentials)

    def send_password_reset_mail(
        self, user: AbstractBaseUser, email: str, context: dict[str, Any]
    ) -> None:
        if getattr(user, "directory_dn", ""):
            self.send_mail("account/email/password_reset_directory", email, context)
            return
        super().send_password_reset_mail(user, email, context)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def authenticate_by_email(self, sociallogin: SocialLogin) -> tuple[Any, str] | None:
        """The account whose *verified* address the provider vouches for, if any.

        allauth would also match an unverified local address (and then wipe its password);
        here an address must be verified on both sides, so an identity provider can never
        take over an account that has not proven its address.
        """
        trust_provider = settings.OIDC_TRUST_EMAIL
        for address in sociallogin.email_addresses:
            if not (address.verified or trust_provider):
                continue
            if not self.can_authenticate_by_email(sociallogin, address.email):
                continue
            local = (
                EmailAddress.objects.filter(
                    email__iexact=address.email, verified=True, user__is_active=True
                )
                .select_related("user")
                .first()
            )
            if local is not None:
                return local.user, local.email
        return None


ENCRYPTED_PREFIX = "enc:"


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted with FIELD_ENCRYPTION_KEYS
    (MultiFernet, like every other secret; ``rotate_encryption_keys`` re-encrypts them)."""

    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": (
            "A workspace you belong to requires two-factor authentication, so your "
            "authenticator app can't be turned off."
        ),
    }

    def encrypt(self, text: str) -> str:
        from apps.core.encryption import encrypt_str

        return ENCRYPTED_PREFIX + encrypt_str(text)

    def decrypt(self, encrypted_text: str) -> str:
        from apps.core.encryption import decrypt_str

        if encrypted_text.startswith(ENCRYPTED_PREFIX):
            return decrypt_str(encrypted_text[len(ENCRYPTED_PREFIX) :])
        # Written before secrets were encrypted: still valid; the next key rotation encrypts it.
        return encrypted_text

    def get_totp_label(self, user: AbstractBaseUser) -> str:
        return str(getattr(user, "email", "") or user.pk)

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Not while a tenant the person belongs to requires two-factor sign-in."""
        from apps.accounts.selectors import tenants_requiring_mfa

        if authenticator.type != Authenticator.Type.TOTP:
            return True
        return not tenants_requiring_mfa(user=authenticator.user)
