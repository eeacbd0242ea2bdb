"""Forms of the conversation pages: they check the input's shape; the rules live in
``apps.conversations.curation`` and its coded errors are shown on the field they concern."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.conversations.curation import NOTE_MAX_CHARS
from apps.conversations.models import TagColour
from apps.core.errors import AppError


def add_service_error(form: forms.Form, exc: AppError | ValidationError) -> None:
    if isinstance(exc, ValidationError):
        form.add_error(None, exc.messages)
        return
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


class TagForm(forms.Form):
    name = forms.CharField(max_length=40, label="Name")
    colour = forms.ChoiceField(choices=TagColour.choices, initial=TagColour.GREY, label="Colour")


class TagAddForm(forms.Form):
    """Put a tag on a conversation by name: an existing one, or a new one in ``colour``."""

    name = forms.CharField(max_length=40, label="Tag")
    colour = forms.ChoiceField(
        choices=TagColour.choices, initial=TagColour.GREY, required=False, label="Colour"
    )


class FolderForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name")


class FolderSelectForm(forms.Form):
    folder = forms.IntegerField(required=False, min_value=1)


class NoteForm(forms.Form):
    body = forms.CharField(
        max_length=NOTE_MAX_CHARS,
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only your team sees notes: never the visitor, never the assistant.",
    )
