"""Forms of the team, invitation and API key pages.

Forms check the shape of the input; the rules live in ``apps.tenants.services``, whose coded
errors are put back on the field they are about (``add_service_error``).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.core.errors import AppError
from apps.tenants.models import Role

# Service error code -> the form field it is about (others go to the top of the form).
FIELD_FOR_CODE = {
    "invalid_email": "email",
    "already_member": "email",
    "invitation_pending": "email",
    "invalid_role": "role",
    "owner_only": "role",
    "invalid_name": "name",
    "invalid_scope": "scopes",
    "invalid_password": "password1",
}

# What each API key scope allows (apps.llm.api and apps.conversations.openai_compat).
SCOPE_CHOICES = [
    ("chat", "OpenAI-compatible chat: /v1/chat/completions and /v1/models"),
    ("read", "Read assistants, models and providers through the REST API"),
    ("write", "Change them through the REST API (includes read)"),
    ("admin", "Everything above"),
]


def add_service_error(form: forms.Form, exc: AppError) -> None:
    field = FIELD_FOR_CODE.get(exc.code)
    form.add_error(field if field in form.fields else None, exc.message)


def grantable_roles(actor_role: str) -> list[tuple[str, str]]:
    """The roles ``actor_role`` may give: owners any, admins any but owner."""
    return [
        (value, label)
        for value, label in Role.choices
        if actor_role == Role.OWNER or value != Role.OWNER
    ]


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.AGENT)

    def __init__(self, *args: Any, actor_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["role"]).choices = grantable_roles(actor_role)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Where the key is used, e.g. “CRM integration”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        initial=["chat"],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the key a name.")
        return name


class InvitationSignupForm(forms.Form):
    """A new account for the invited address (which is fixed by the invitation)."""

    full_name = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_full_name(self) -> str:
        name = self.cleaned_data["full_name"].strip()
        if not name:
            raise ValidationError("Give your full name.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            candidate = User(email=self.email, full_name=data.get("full_name", ""))
            try:
                validate_password(first, user=candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data
