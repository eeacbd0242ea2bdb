"""Sign-in against an LDAP / Active Directory server (django-auth-ldap).

The backend is always listed in AUTHENTICATION_BACKENDS but does nothing unless
``AUTH_LDAP_SERVER_URI`` (from ``LDAP_SERVER_URI``) is set. allauth's login form authenticates
with ``email=...``; django-auth-ldap reads the credential named after the user model's
USERNAME_FIELD, which is ``email`` here, so the same form signs in directory users. The search
filter (``LDAP_USER_FILTER``, by ``mail`` by default) finds their entry, a bind with their
password proves it, and then ``user_directory_sync`` applies what the directory says.
"""

from __future__ import annotations

import logging
from typing import Any

import ldap
from django.conf import settings
from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend

from apps.accounts.directory import role_groups_parse
from apps.accounts.models import User
from apps.accounts.services import user_directory_sync

logger = logging.getLogger(__name__)


class DirectoryBackend(LDAPBackend, BaseBackend):
    """django-auth-ldap's backend, off without a server, keyed by email address.

    BaseBackend supplies the async variants Django's async views need (``aget_user``).
    """

    _request: HttpRequest | None = None

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not getattr(settings, "AUTH_LDAP_SERVER_URI", ""):
            return None
        self._request = request
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> User | None:
        """The signed-in person of a session, unless their account has been disabled."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        """The person this directory entry belongs to: by DN first (an address may change in
        the directory), then by the entry's email address; a new one otherwise."""
        attr = getattr(settings, "AUTH_LDAP_USER_ATTR_MAP", {}).get("email", "mail")
        values = (ldap_user.attrs or {}).get(attr) or []
        email = str(values[0]).strip().lower() if values else ""
        if not email:
            raise ldap_user.AuthenticationFailed(f"{ldap_user.dn} has no {attr} attribute")
        by_email = User.objects.filter(email__iexact=email).first()
        user = User.objects.filter(directory_dn__iexact=ldap_user.dn).first() or by_email
        if user is None:
            return User(email=email), True
        if by_email is not None and by_email.pk != user.pk:
            logger.warning(
                "Directory entry %s now has the address of another account; not signing in.",
                ldap_user.dn,
            )
            raise ldap_user.AuthenticationFailed("address taken by another account")
        return user, False

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        role_groups = role_groups_parse(getattr(settings, "LDAP_ROLE_GROUPS", ""))
        request = self._request
        try:
            group_dns = set(ldap_user.group_dns) if role_groups else set()
            user_directory_sync(
                user=user,
                dn=ldap_user.dn,
                group_dns=group_dns,
                role_groups=role_groups,
                ip_address=request.META.get("REMOTE_ADDR") if request is not None else None,
            )
        except (ldap.LDAPError, ValidationError, IntegrityError) as exc:
            # Fail closed: without the directory's current groups, roles could be stale.
            logger.warning("Directory sign-in of %s refused: %s", ldap_user.dn, exc)
            return None
        return user
