"""Backoffice pages for knowledge bases: list, sources with live status, upload, delete, and
"try a question" showing the ranked chunks. Viewers read; admins change.

Views check the form's shape, call one service and render a page or an HTMX fragment; coded
errors (``AppError``) become form errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import AppError
from apps.knowledge import selectors, services
from apps.knowledge.forms import KnowledgeBaseForm, QuestionForm, TextForm, UploadForm, UrlForm
from apps.knowledge.models import KnowledgeBase, SourceStatus
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView, role_at_least


class KnowledgeView(TenantMemberView, View):
    minimum_role = Role.VIEWER
    excluded_roles = frozenset({Role.AGENT})

    @property
    def can_edit(self) -> bool:
        return role_at_least(self.membership.role, Role.ADMIN)

    def knowledge_base(self, pk: int) -> KnowledgeBase:
        return selectors.knowledge_base_get(id=pk)


class AdminKnowledgeView(KnowledgeView):
    minimum_role = Role.ADMIN


class KnowledgeBaseListView(KnowledgeView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(KnowledgeBaseForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.can_edit:
            return render(request, "errors/404.html", status=404)
        form = KnowledgeBaseForm(request.POST)
        if form.is_valid():
            try:
                kb = services.knowledge_base_create(**form.cleaned_data)
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("knowledge:detail", pk=kb.pk)
        return self.page(form, status=400)

    def page(self, form: KnowledgeBaseForm, status: int = 200) -> HttpResponse:
        context = {
            "knowledge_bases": selectors.knowledge_base_overview(),
            "form": form,
            "can_edit": self.can_edit,
        }
        return render(self.request, "knowledge/list.html", context, status=status)


class KnowledgeBaseDetailView(KnowledgeView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        return render(request, "knowledge/detail.html", self.context(kb))

    def context(self, kb: KnowledgeBase, **extra: Any) -> dict[str, Any]:
        sources = selectors.source_list(knowledge_base=kb)
        return {
            "kb": kb,
            "sources": sources,
            "busy": any(
                s.status in (SourceStatus.QUEUED, SourceStatus.PROCESSING) for s in sources
            ),
            "can_edit": self.can_edit,
            "upload_form": extra.pop("upload_form", UploadForm()),
            "url_form": extra.pop("url_form", UrlForm()),
            "text_form": extra.pop("text_form", TextForm()),
            "question_form": QuestionForm(),
            **extra,
        }


class SourceTableView(KnowledgeView):
    """The sources table alone; the page polls it (HTMX) while something is in progress."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        sources = selectors.source_list(knowledge_base=kb)
        busy = any(s.status in (SourceStatus.QUEUED, SourceStatus.PROCESSING) for s in sources)
        context = {"kb": kb, "sources": sources, "busy": busy, "can_edit": self.can_edit}
        return render(request, "knowledge/_sources.html", context)


class _SourceCreateView(AdminKnowledgeView):
    form_class: Any = None
    form_key = ""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        form = self.form_class(request.POST, request.FILES)
        if form.is_valid():
            try:
                source = self.create(kb, form.cleaned_data)
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{source.title} is queued for ingestion.")
                return redirect("knowledge:detail", pk=kb.pk)
        detail = KnowledgeBaseDetailView()
        detail.membership = self.membership
        context = detail.context(kb, **{self.form_key: form})
        return render(request, "knowledge/detail.html", context, status=400)

    def create(self, kb: KnowledgeBase, data: dict[str, Any]) -> Any:
        raise NotImplementedError


class SourceUploadView(_SourceCreateView):
    """One or several files (picked or dropped); each becomes its own source.

    A refused file (too large, unknown type) is named in the form's errors; the others are
    still queued, so one bad file never loses the rest of the upload.
    """

    form_class = UploadForm
    form_key = "upload_form"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        form = self.form_class(request.POST, request.FILES)
        if form.is_valid():
            queued: list[str] = []
            for uploaded in form.cleaned_data["file"]:
                try:
                    source = services.source_create_file(
                        knowledge_base=kb, uploaded_file_or_path=uploaded
                    )
                except AppError as exc:
                    form.add_error("file", f"{uploaded.name}: {exc.message}")
                else:
                    queued.append(source.title)
            if queued:
                messages.success(request, f"Queued for ingestion: {', '.join(queued)}.")
            if form.is_valid():
                return redirect("knowledge:detail", pk=kb.pk)
        detail = KnowledgeBaseDetailView()
        detail.membership = self.membership
        context = detail.context(kb, **{self.form_key: form})
        return render(request, "knowledge/detail.html", context, status=400)


class SourceUrlView(_SourceCreateView):
    form_class = UrlForm
    form_key = "url_form"

    def create(self, kb: KnowledgeBase, data: dict[str, Any]) -> Any:
        return services.source_create_url(
            knowledge_base=kb,
            url=data["url"],
            crawl=data["crawl"],
            max_depth=data["max_depth"],
            max_pages=data["max_pages"],
        )


class SourceTextView(_SourceCreateView):
    form_class = TextForm
    form_key = "text_form"

    def create(self, kb: KnowledgeBase, data: dict[str, Any]) -> Any:
        return services.source_create_text(
            knowledge_base=kb, title=data["title"], text=data["text"]
        )


class SourceReingestView(AdminKnowledgeView):
    def post(self, request: HttpRequest, pk: int, source_pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        source = selectors.source_get(source_id=source_pk, knowledge_base=kb)
        services.source_reingest(source=source, force=True)
        return redirect("knowledge:detail", pk=kb.pk)


class SourceDeleteView(AdminKnowledgeView):
    def post(self, request: HttpRequest, pk: int, source_pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        source = selectors.source_get(source_id=source_pk, knowledge_base=kb)
        services.source_delete(source=source)
        messages.success(request, f"{source.title} and its chunks were deleted.")
        return redirect("knowledge:detail", pk=kb.pk)


class KnowledgeBaseDeleteView(AdminKnowledgeView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        services.knowledge_base_delete(knowledge_base=kb)
        messages.success(request, f"Knowledge base {kb.name} was deleted.")
        return redirect("knowledge:list")


class TryQuestionView(KnowledgeView):
    """Ranked chunks for a question (HTMX fragment); no model is called."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        kb = self.knowledge_base(pk)
        form = QuestionForm(request.POST)
        result = None
        if form.is_valid():
            result = selectors.knowledge_retrieve(
                query=form.cleaned_data["question"], knowledge_base_ids=[kb.pk], limit=5
            )
        return render(request, "knowledge/_results.html", {"form": form, "result": result})
