"""Forms for sign-in settings: allauth's password forms, the tenant security settings."""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from django import forms

DIRECTORY_MANAGED_MESSAGE = (
    "Your password is managed by your organisation's directory (LDAP / Active Directory). "
    "Change it there."
)


class _DirectoryPasswordGuard:
    """People who sign in through the directory have no password here to change or set."""

    user: Any

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        if getattr(self.user, "directory_dn", ""):
            raise forms.ValidationError(DIRECTORY_MANAGED_MESSAGE, code="directory_managed")
        return cleaned


class ChangePasswordForm(_DirectoryPasswordGuard, allauth_forms.ChangePasswordForm):
    pass


class SetPasswordForm(_DirectoryPasswordGuard, allauth_forms.SetPasswordForm):
    pass


class TenantSecurityForm(forms.Form):
    require_mfa = forms.BooleanField(
        required=False,
        label="Require two-factor authentication",
        help_text=(
            "Every member must set up an authenticator app before they can open this "
            "workspace. Members without one are taken to the setup page when they sign in."
        ),
    )
