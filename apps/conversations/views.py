"""Backoffice pages for conversations: the list (search, filters), one conversation, curation
(flag, tags, folder, private notes), exports, deletion, and tag and folder management.

Who may do what: every member reads and exports (viewers only that); agents and above curate;
admins and owners delete conversations, tags and folders. A note is deleted by its author or
an admin. Too small a role gets the same 404 as a non-member and as a missing object, on full
pages and HTMX fragments alike. HTMX requests get the fragment they swap; without JavaScript
the same forms post and redirect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View

from apps.audit.services import audit_record
from apps.conversations import curation, exports
from apps.conversations.forms import (
    FolderForm,
    FolderSelectForm,
    NoteForm,
    TagAddForm,
    TagForm,
    add_service_error,
)
from apps.conversations.models import Channel, Conversation, TagColour
from apps.conversations.selectors import (
    RATING_FILTERS,
    ConversationFilters,
    conversation_get,
    conversation_messages,
    conversation_notes,
    conversation_page,
    conversations_matching,
    filter_choices,
    folder_get,
    folders_with_counts,
    note_get,
    tag_get,
    tags_with_counts,
)
from apps.core.errors import AppError, NotFound
from apps.core.pagination import paginate
from apps.core.views import not_found
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView, role_at_least

EXPORT_FORMATS = ("csv", "json")
LABELS_PAGE_SIZE = 20


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)  # django-htmx middleware
    return bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]


class ConversationsView(TenantMemberView, View):
    """Base: membership resolved once; NotFound anywhere below becomes the 404 page."""

    minimum_role = Role.VIEWER

    @property
    def role(self) -> str:
        return str(self.membership.role)

    def permissions(self) -> dict[str, bool]:
        return {
            "can_curate": role_at_least(self.role, Role.AGENT),
            "can_delete": role_at_least(self.role, Role.ADMIN),
        }

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render(self.request, template, {**self.permissions(), **context}, status=status)


class CuratorView(ConversationsView):
    minimum_role = Role.AGENT


class AdminView(ConversationsView):
    minimum_role = Role.ADMIN


# --- The list --------------------------------------------------------------------------------


def _query(params: dict[str, str], **extra: Any) -> str:
    merged = {**params, **{k: str(v) for k, v in extra.items() if v}}
    return f"?{urlencode(merged)}" if merged else "?"


class ConversationListView(ConversationsView):
    def get(self, request: HttpRequest) -> HttpResponse:
        filters = ConversationFilters.from_params(request.GET)
        page = conversation_page(filters, request.GET.get("page"))
        params = filters.params()
        context = {
            "filters": filters,
            "page": page,
            "choices": filter_choices(),
            "channels": Channel.choices,
            "ratings": RATING_FILTERS.items(),
            "prev_url": _query(params, page=page.number - 1 if page.number > 2 else "")
            if page.has_previous
            else "",
            "next_url": _query(params, page=page.number + 1) if page.has_next else "",
            "export_query": urlencode(params),
            "today": timezone.localdate().isoformat(),
        }
        template = "conversations/_results.html" if _is_htmx(request) else "conversations/list.html"
        response = self.render(template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response


class ListExportView(ConversationsView):
    def get(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        if fmt not in EXPORT_FORMATS:
            return not_found(request)
        filters = ConversationFilters.from_params(request.GET)
        conversations = conversations_matching(filters).queryset
        audit_record(
            action="conversations.exported",
            actor=request.user,
            object_type="conversation",
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            data={"format": fmt, "filters": sorted(filters.params())},
        )
        chunks = exports.list_export_chunks(self.tenant, conversations, fmt)
        name = f"conversations-{timezone.localdate().isoformat()}"
        return exports.streamed_download(request, chunks, fmt=fmt, filename=name)


# --- One conversation ------------------------------------------------------------------------


def sidebar_context(
    view: ConversationsView, conversation: Conversation, **forms: Any
) -> dict[str, Any]:
    choices = filter_choices()
    notes = conversation_notes(conversation=conversation)
    user = view.request.user
    return {
        "conversation": conversation,
        "tags": list(conversation.tags.order_by("name")),
        "all_tags": choices.tags,
        "folders": choices.folders,
        "colours": TagColour.choices,
        "notes": [
            (note, curation.may_delete_note(note=note, actor=user, role=view.role))
            for note in notes
        ],
        "tag_form": forms.get("tag_form") or TagAddForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        **view.permissions(),
    }


class ConversationDetailView(ConversationsView):
    def get(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        return self.page(conversation)

    def page(self, conversation: Conversation, status: int = 200, **forms: Any) -> HttpResponse:
        messages_page = conversation_messages(
            conversation=conversation, page=self.request.GET.get("page")
        )
        context = {
            **sidebar_context(self, conversation, **forms),
            "messages_page": messages_page,
        }
        return self.render("conversations/detail.html", context, status=status)


class SidebarActionView(CuratorView):
    """A curation POST: HTMX gets the sidebar back; without JavaScript, the page."""

    def done(self, conversation: Conversation, message: str = "", **forms: Any) -> HttpResponse:
        invalid = any(form.errors for form in forms.values())
        if _is_htmx(self.request):
            return self.render(
                "conversations/_sidebar.html", sidebar_context(self, conversation, **forms)
            )
        if invalid:
            detail = ConversationDetailView()
            detail.setup(self.request, pk=conversation.pk)
            detail.membership = self.membership
            detail.tenant = self.tenant
            return detail.page(conversation, status=400, **forms)
        if message:
            messages.success(self.request, message)
        return redirect("conversations:detail", pk=conversation.pk)


class FlagView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        flagged = request.POST.get("flagged") == "1"
        curation.conversation_flag_set(
            conversation=conversation, flagged=flagged, actor=request.user
        )
        return self.done(conversation, "Flagged." if flagged else "Flag removed.")


class TagAddView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        form = TagAddForm(request.POST)
        if form.is_valid():
            try:
                tag = curation.tag_ensure(
                    name=form.cleaned_data["name"], colour=form.cleaned_data.get("colour") or ""
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                curation.conversation_tag_add(conversation=conversation, tag=tag)
                return self.done(conversation, f"Tagged “{tag.name}”.")
        return self.done(conversation, tag_form=form)


class TagRemoveView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any, tag_pk: int) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        tag = tag_get(tag_id=tag_pk)
        curation.conversation_tag_remove(conversation=conversation, tag=tag)
        return self.done(conversation, f"Tag “{tag.name}” removed.")


class FolderSetView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        form = FolderSelectForm(request.POST)
        if not form.is_valid():
            raise NotFound("No such folder.", code="folder_not_found")
        folder_id = form.cleaned_data.get("folder")
        folder = folder_get(folder_id=folder_id) if folder_id else None
        curation.conversation_folder_set(conversation=conversation, folder=folder)
        return self.done(conversation, f"Moved to {folder.name}." if folder else "Unfiled.")


class NoteCreateView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        form = NoteForm(request.POST)
        if form.is_valid():
            try:
                curation.note_create(
                    conversation=conversation, author=request.user, body=form.cleaned_data["body"]
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                return self.done(conversation, "Note added.")
        return self.done(conversation, note_form=form)


class NoteDeleteView(SidebarActionView):
    def post(self, request: HttpRequest, pk: Any, note_pk: int) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        note = note_get(conversation=conversation, note_id=note_pk)
        curation.note_delete(note=note, actor=request.user, role=self.role)
        return self.done(conversation, "Note deleted.")


class ConversationExportView(ConversationsView):
    def get(self, request: HttpRequest, pk: Any, fmt: str) -> HttpResponseBase:
        if fmt not in EXPORT_FORMATS:
            return not_found(request)
        conversation = conversation_get(conversation_id=pk)
        audit_record(
            action="conversation.exported",
            actor=request.user,
            object_type="conversation",
            object_id=str(conversation.pk),
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            data={"format": fmt},
        )
        chunks = exports.conversation_export_chunks(self.tenant, conversation, fmt)
        return exports.streamed_download(
            request, chunks, fmt=fmt, filename=f"conversation-{conversation.pk}"
        )


class ConversationDeleteView(AdminView):
    """GET: the confirmation page. POST: delete, audited."""

    def get(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        return self.render(
            "conversations/confirm_delete.html",
            {
                "what": "conversation",
                "name": conversation.title or "this conversation",
                "consequence": f"Its {conversation.messages.count()} messages and private "
                "notes are deleted for good. The audit log keeps that you deleted it, not "
                "what was said.",
                "cancel_url": reverse("conversations:detail", args=[conversation.pk]),
                "label": "Delete conversation",
            },
        )

    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        conversation = conversation_get(conversation_id=pk)
        curation.conversation_delete(
            conversation=conversation,
            actor=request.user,
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        messages.success(request, "Conversation deleted.")
        return redirect("conversations:list")


# --- Tags and folders ------------------------------------------------------------------------


class LabelsView(ConversationsView):
    """Tags and folders: listed for everyone, managed by agents and above."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page()

    def page(self, status: int = 200, **forms: Any) -> HttpResponse:
        tags = paginate(self.request, tags_with_counts(), "tags_page", LABELS_PAGE_SIZE)
        folders = paginate(self.request, folders_with_counts(), "folders_page", LABELS_PAGE_SIZE)
        # A rename that failed shows its errors on its own row.
        edit_errors = forms.get("edit_errors") or {}
        for kind, page in (("tag", tags), ("folder", folders)):
            for item in page.object_list:
                item.edit_errors = edit_errors.get((kind, item.pk), [])
        return self.render(
            "conversations/labels.html",
            {
                "tags": tags,
                "folders": folders,
                "tag_form": forms.get("tag_form") or TagForm(),
                "folder_form": forms.get("folder_form") or FolderForm(),
                "colours": TagColour.choices,
            },
            status=status,
        )


class LabelActionView(CuratorView):
    def invalid(self, **forms: Any) -> HttpResponse:
        labels = LabelsView()
        labels.setup(self.request)
        labels.membership = self.membership
        labels.tenant = self.tenant
        return labels.page(status=400, **forms)


class TagCreateView(LabelActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                tag = curation.tag_create(**form.cleaned_data)
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Tag “{tag.name}” created.")
                return redirect("conversations:labels")
        return self.invalid(tag_form=form)


class TagEditView(LabelActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tag = tag_get(tag_id=pk)
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                curation.tag_update(tag=tag, **form.cleaned_data)
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Tag “{tag.name}” saved.")
                return redirect("conversations:labels")
        errors = [str(e) for errors in form.errors.values() for e in errors]
        return self.invalid(edit_errors={("tag", tag.pk): errors})


class FolderCreateView(LabelActionView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = FolderForm(request.POST)
        if form.is_valid():
            try:
                folder = curation.folder_create(name=form.cleaned_data["name"])
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Folder “{folder.name}” created.")
                return redirect("conversations:labels")
        return self.invalid(folder_form=form)


class FolderRenameView(LabelActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        folder = folder_get(folder_id=pk)
        form = FolderForm(request.POST)
        if form.is_valid():
            try:
                curation.folder_rename(folder=folder, name=form.cleaned_data["name"])
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Folder renamed to “{folder.name}”.")
                return redirect("conversations:labels")
        errors = [str(e) for errors in form.errors.values() for e in errors]
        return self.invalid(edit_errors={("folder", folder.pk): errors})


class TagDeleteView(AdminView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        tag = tag_get(tag_id=pk)
        used = tag.conversations.count()
        return self.render(
            "conversations/confirm_delete.html",
            {
                "what": "tag",
                "name": tag.name,
                "consequence": f"It comes off the {used} conversation{'s' if used != 1 else ''} "
                "that have it. The conversations stay.",
                "cancel_url": reverse("conversations:labels"),
                "label": "Delete tag",
            },
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tag = tag_get(tag_id=pk)
        name = tag.name
        curation.tag_delete(tag=tag, actor=request.user, ip_address=client_ip(request))
        messages.success(request, f"Tag “{name}” deleted.")
        return redirect("conversations:labels")


class FolderDeleteView(AdminView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        folder = folder_get(folder_id=pk)
        filed = folder.conversations.count()
        return self.render(
            "conversations/confirm_delete.html",
            {
                "what": "folder",
                "name": folder.name,
                "consequence": f"Its {filed} conversation{'s' if filed != 1 else ''} go back to "
                "no folder. The conversations stay.",
                "cancel_url": reverse("conversations:labels"),
                "label": "Delete folder",
            },
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        folder = folder_get(folder_id=pk)
        name = folder.name
        filed = curation.folder_delete(
            folder=folder, actor=request.user, ip_address=client_ip(request)
        )
        messages.success(
            request,
            f"Folder “{name}” deleted; {filed} conversation{'s' if filed != 1 else ''} unfiled.",
        )
        return redirect("conversations:labels")
