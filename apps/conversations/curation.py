"""Writes by staff on conversations: flags, tags, folders, private notes, deletion.

Who may do what is decided by the views (agents and above curate, admins and owners delete);
the checks that depend on the object (only a note's author, or an admin, deletes it) are here.
People live in the public schema: rows keep their id and email as a label.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.conversations.models import Conversation, Folder, Note, Tag, TagColour
from apps.core.errors import InvalidInput, NotFound
from apps.tenants.models import Role
from apps.tenants.permissions import role_at_least

NOTE_MAX_CHARS = 4000


def _label(person: Any) -> str:
    return str(getattr(person, "email", "") or "")[:254]


def _validated(instance: Tag | Folder, *, duplicate: str) -> None:
    """full_clean with the unique-name constraint reported as a coded error."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        messages = exc.message_dict
        if "__all__" in messages and len(messages) == 1:
            raise InvalidInput(duplicate, code="duplicate_name", field="name") from exc
        raise


def _clean_name(name: str, *, what: str, max_length: int) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(f"A {what} needs a name.", code="name_required", field="name")
    if len(name) > max_length:
        raise InvalidInput(
            f"A {what} name has at most {max_length} characters.",
            code="name_too_long",
            field="name",
        )
    return name


# --- Flag ------------------------------------------------------------------------------------


def conversation_flag_set(*, conversation: Conversation, flagged: bool, actor: Any) -> Conversation:
    if conversation.flagged == flagged:
        return conversation
    conversation.flagged = flagged
    conversation.flagged_at = timezone.now() if flagged else None
    conversation.flagged_by_id = getattr(actor, "pk", None) if flagged else None
    conversation.flagged_by_label = _label(actor) if flagged else ""
    conversation.save(update_fields=["flagged", "flagged_at", "flagged_by_id", "flagged_by_label"])
    return conversation


# --- Tags ------------------------------------------------------------------------------------


def check_colour(colour: str) -> str:
    if colour not in TagColour.values:
        raise InvalidInput("Pick one of the listed colours.", code="invalid_colour", field="colour")
    return colour


def tag_create(*, name: str, colour: str = TagColour.GREY) -> Tag:
    tag = Tag(name=_clean_name(name, what="tag", max_length=40), colour=check_colour(colour))
    _validated(tag, duplicate=f"There is already a tag called “{tag.name}”.")
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:  # created by someone else in the meantime
        raise InvalidInput(
            f"There is already a tag called “{tag.name}”.", code="duplicate_name", field="name"
        ) from exc
    return tag


def tag_update(*, tag: Tag, name: str, colour: str) -> Tag:
    tag.name = _clean_name(name, what="tag", max_length=40)
    tag.colour = check_colour(colour)
    _validated(tag, duplicate=f"There is already a tag called “{tag.name}”.")
    tag.save(update_fields=["name", "colour"])
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag, actor: Any, ip_address: str | None = None) -> int:
    """Delete a tag; it comes off every conversation. Returns how many had it."""
    used = tag.conversations.count()
    audit_record(
        action="conversation_tag.deleted",
        actor=actor,
        object_type="tag",
        object_id=str(tag.pk),
        ip_address=ip_address,
        data={"name": tag.name, "conversations": used},
    )
    tag.delete()
    return used


def tag_ensure(*, name: str, colour: str = TagColour.GREY) -> Tag:
    """The tag called ``name`` (any case), created in ``colour`` if there is none."""
    clean = _clean_name(name, what="tag", max_length=40)
    existing = Tag.objects.filter(name__iexact=clean).first()
    return existing or tag_create(name=clean, colour=colour or TagColour.GREY)


def conversation_tag_add(*, conversation: Conversation, tag: Tag) -> None:
    conversation.tags.add(tag)


def conversation_tag_remove(*, conversation: Conversation, tag: Tag) -> None:
    conversation.tags.remove(tag)


# --- Folders ---------------------------------------------------------------------------------


def folder_create(*, name: str) -> Folder:
    folder = Folder(name=_clean_name(name, what="folder", max_length=80))
    _validated(folder, duplicate=f"There is already a folder called “{folder.name}”.")
    try:
        with transaction.atomic():
            folder.save()
    except IntegrityError as exc:
        raise InvalidInput(
            f"There is already a folder called “{folder.name}”.",
            code="duplicate_name",
            field="name",
        ) from exc
    return folder


def folder_rename(*, folder: Folder, name: str) -> Folder:
    folder.name = _clean_name(name, what="folder", max_length=80)
    _validated(folder, duplicate=f"There is already a folder called “{folder.name}”.")
    folder.save(update_fields=["name"])
    return folder


@transaction.atomic
def folder_delete(*, folder: Folder, actor: Any, ip_address: str | None = None) -> int:
    """Delete a folder; its conversations go back to no folder. Returns how many."""
    filed = Conversation.objects.filter(folder=folder).update(folder=None)
    audit_record(
        action="conversation_folder.deleted",
        actor=actor,
        object_type="folder",
        object_id=str(folder.pk),
        ip_address=ip_address,
        data={"name": folder.name, "conversations": filed},
    )
    folder.delete()
    return filed


def conversation_folder_set(*, conversation: Conversation, folder: Folder | None) -> Conversation:
    conversation.folder = folder
    conversation.save(update_fields=["folder"])
    return conversation


# --- Notes -----------------------------------------------------------------------------------


def note_create(*, conversation: Conversation, author: Any, body: str) -> Note:
    body = body.strip()
    if not body:
        raise InvalidInput("The note is empty.", code="empty_note", field="body")
    if len(body) > NOTE_MAX_CHARS:
        raise InvalidInput(
            f"A note has at most {NOTE_MAX_CHARS} characters.", code="note_too_long", field="body"
        )
    note = Note(
        conversation=conversation,
        author_id=getattr(author, "pk", None),
        author_label=_label(author),
        body=body,
    )
    note.full_clean()
    note.save()
    return note


def may_delete_note(*, note: Note, actor: Any, role: str) -> bool:
    """The author deletes their own notes; admins and owners any note."""
    is_author = note.author_id is not None and note.author_id == getattr(actor, "pk", None)
    return is_author or role_at_least(role, Role.ADMIN)


def check_may_delete_note(*, note: Note, actor: Any, role: str) -> None:
    if not may_delete_note(note=note, actor=actor, role=role):
        # The same answer as for a note that does not exist.
        raise NotFound("No such note.", code="note_not_found")


def note_delete(*, note: Note, actor: Any, role: str) -> None:
    check_may_delete_note(note=note, actor=actor, role=role)
    note.delete()


# --- Deletion --------------------------------------------------------------------------------


@transaction.atomic
def conversation_delete(
    *, conversation: Conversation, actor: Any, ip_address: str | None = None, user_agent: str = ""
) -> None:
    """Delete a conversation with its messages and notes. The audit log keeps that it
    happened (who, from where, which id, how big), never what was said."""
    audit_record(
        action="conversation.deleted",
        actor=actor,
        object_type="conversation",
        object_id=str(conversation.pk),
        ip_address=ip_address,
        user_agent=user_agent,
        data={
            "channel": conversation.channel,
            "messages": conversation.messages.count(),
            "started": conversation.created_at.date().isoformat(),
            "verified_visitor": bool(conversation.visitor_id),
        },
    )
    conversation.delete()
