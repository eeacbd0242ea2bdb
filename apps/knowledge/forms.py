"""Backoffice forms: they check the shape of the input; services check the rest."""

from __future__ import annotations

from django import forms


class KnowledgeBaseForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class UploadForm(forms.Form):
    file = forms.FileField(help_text="PDF, Word, PowerPoint, Excel, CSV, text, Markdown or HTML")


class UrlForm(forms.Form):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    crawl = forms.BooleanField(required=False, label="Crawl the site (same host)")
    max_depth = forms.IntegerField(min_value=0, max_value=10, initial=2, label="Link depth")
    max_pages = forms.IntegerField(min_value=1, max_value=10_000, initial=50, label="Page limit")


class TextForm(forms.Form):
    title = forms.CharField(max_length=300)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))


class QuestionForm(forms.Form):
    question = forms.CharField(max_length=2000)
