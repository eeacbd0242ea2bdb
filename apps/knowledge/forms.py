"""Backoffice forms: they check the shape of the input; services check the rest."""

from __future__ import annotations

from typing import Any

from django import forms


class KnowledgeBaseForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


MAX_FILES_PER_UPLOAD = 20


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern); cleans to a list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data]
        if len(files) > MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(
                f"At most {MAX_FILES_PER_UPLOAD} files at a time; you chose {len(files)}."
            )
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


class UploadForm(forms.Form):
    file = MultipleFileField(
        label="Files",
        help_text="PDF, Word, PowerPoint, Excel, CSV, text, Markdown or HTML; "
        f"up to {MAX_FILES_PER_UPLOAD} at a time.",
    )


class UrlForm(forms.Form):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    crawl = forms.BooleanField(required=False, label="Crawl the site (same host)")
    max_depth = forms.IntegerField(min_value=0, max_value=10, initial=2, label="Link depth")
    max_pages = forms.IntegerField(min_value=1, max_value=10_000, initial=50, label="Page limit")


# Pasted text travels in the form's body, which Django caps (DATA_UPLOAD_MAX_MEMORY_SIZE, 10 MB);
# longer texts are uploaded as files.
MAX_PASTED_CHARS = 2_000_000


class TextForm(forms.Form):
    title = forms.CharField(max_length=300)
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=MAX_PASTED_CHARS,
        error_messages={
            "max_length": "Paste at most 2,000,000 characters here; upload a longer text as a "
            "file (%(show_value)s characters pasted)."
        },
    )


class QuestionForm(forms.Form):
    question = forms.CharField(max_length=2000)
