"""Curation: flags, tags, folders, private notes, deletion (audited), tag and folder
management; each for the roles allowed, refused to the others, and never across tenants."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.conversations.models import Conversation, Folder, Message, Note, Tag
from apps.tenants.models import Role


@pytest.fixture
def conversation(tenant_a, conversation_in):
    return conversation_in(
        tenant_a,
        [("user", "I want my money back"), ("assistant", "Refunds take 5 days.")],
        title="Money back",
    )


def reload(tenant, conversation) -> Conversation:
    with tenant_context(tenant):
        return Conversation.objects.get(pk=conversation.pk)


def url(conversation, action: str = "") -> str:
    return f"/conversations/{conversation.pk}/{action}"


# --- Flag ------------------------------------------------------------------------------------


def test_an_agent_flags_and_unflags_with_htmx(client_as, tenant_a, conversation):
    client = client_as(Role.AGENT, htmx=True)
    response = client.post(url(conversation, "flag/"), {"flagged": "1"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'id="conversation-sidebar"' in fragment and "<html" not in fragment
    assert "Remove flag" in fragment
    flagged = reload(tenant_a, conversation)
    assert flagged.flagged and flagged.flagged_by_id == client.user.pk
    assert flagged.flagged_by_label == client.user.email and flagged.flagged_at
    client.post(url(conversation, "flag/"), {"flagged": "0"})
    unflagged = reload(tenant_a, conversation)
    assert not unflagged.flagged and unflagged.flagged_by_id is None


def test_without_javascript_a_flag_redirects_back(client_as, tenant_a, conversation):
    response = client_as(Role.AGENT).post(url(conversation, "flag/"), {"flagged": "1"})
    assert response.status_code == 302 and response["Location"] == url(conversation)
    assert reload(tenant_a, conversation).flagged


def test_viewers_cannot_curate(client_as, tenant_a, conversation):
    client = client_as(Role.VIEWER, htmx=True)
    with tenant_context(tenant_a):
        folder = Folder.objects.create(name="Legal")
    attempts = [
        (url(conversation, "flag/"), {"flagged": "1"}),
        (url(conversation, "tags/"), {"name": "urgent"}),
        (url(conversation, "folder/"), {"folder": folder.pk}),
        (url(conversation, "notes/"), {"body": "hello"}),
        ("/conversations/tags/new/", {"name": "x", "colour": "red"}),
        ("/conversations/folders/new/", {"name": "y"}),
    ]
    for path, data in attempts:
        assert client.post(path, data).status_code == 404, path
    with tenant_context(tenant_a):
        refreshed = Conversation.objects.get(pk=conversation.pk)
        assert not refreshed.flagged and refreshed.folder is None
        assert not Tag.objects.exists() and not Note.objects.exists()
        assert Folder.objects.count() == 1


# --- Tags ------------------------------------------------------------------------------------


def test_tags_are_added_by_name_created_inline_and_removed(client_as, tenant_a, conversation):
    with tenant_context(tenant_a):
        billing = Tag.objects.create(name="Billing", colour="orange")
    client = client_as(Role.AGENT, htmx=True)
    assert client.post(url(conversation, "tags/"), {"name": "billing"}).status_code == 200
    response = client.post(url(conversation, "tags/"), {"name": "Escalate", "colour": "pink"})
    assert "Escalate" in response.content.decode()
    with tenant_context(tenant_a):
        assert Tag.objects.count() == 2  # "billing" matched the existing "Billing"
        escalate = Tag.objects.get(name="Escalate")
        assert escalate.colour == "pink"
        assert set(conversation.tags.values_list("name", flat=True)) == {"Billing", "Escalate"}
    client.post(url(conversation, f"tags/{billing.pk}/remove/"))
    with tenant_context(tenant_a):
        assert list(conversation.tags.values_list("name", flat=True)) == ["Escalate"]


def test_a_blank_or_bad_tag_shows_an_error(client_as, tenant_a, conversation):
    client = client_as(Role.AGENT, htmx=True)
    response = client.post(url(conversation, "tags/"), {"name": "   "})
    assert response.status_code == 200 and "field-error" in response.content.decode()
    response = client.post(url(conversation, "tags/"), {"name": "ok", "colour": "plaid"})
    assert "field-error" in response.content.decode() or "form-error" in response.content.decode()
    with tenant_context(tenant_a):
        assert not Tag.objects.exists()


def test_tag_management_create_rename_recolour_duplicate(client_as, tenant_a):
    client = client_as(Role.AGENT)
    response = client.post("/conversations/tags/new/", {"name": "Bug", "colour": "red"})
    assert response.status_code == 302
    duplicate = client.post("/conversations/tags/new/", {"name": "bug", "colour": "blue"})
    assert duplicate.status_code == 400
    assert "There is already a tag called" in duplicate.content.decode()
    with tenant_context(tenant_a):
        tag = Tag.objects.get()
        Tag.objects.create(name="Praise")
    client.post(f"/conversations/tags/{tag.pk}/", {"name": "Defect", "colour": "purple"})
    with tenant_context(tenant_a):
        tag.refresh_from_db()
        assert (tag.name, tag.colour) == ("Defect", "purple")
    clash = client.post(f"/conversations/tags/{tag.pk}/", {"name": "PRAISE", "colour": "red"})
    assert clash.status_code == 400 and "There is already a tag called" in clash.content.decode()
    listing = client.get("/conversations/labels/").content.decode()
    assert "Defect" in listing and "Praise" in listing


def test_only_admins_delete_tags_after_confirming(client_as, tenant_a, conversation):
    with tenant_context(tenant_a):
        tag = Tag.objects.create(name="Spam")
        conversation.tags.add(tag)
    agent = client_as(Role.AGENT)
    assert agent.get(f"/conversations/tags/{tag.pk}/delete/").status_code == 404
    assert agent.post(f"/conversations/tags/{tag.pk}/delete/").status_code == 404
    admin = client_as(Role.ADMIN)
    confirm = admin.get(f"/conversations/tags/{tag.pk}/delete/")
    assert confirm.status_code == 200 and "Delete tag" in confirm.content.decode()
    assert "1 conversation" in confirm.content.decode()
    assert admin.post(f"/conversations/tags/{tag.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not Tag.objects.exists()
        assert Conversation.objects.filter(pk=conversation.pk).exists()
        event = AuditEvent.objects.get(action="conversation_tag.deleted")
        assert event.actor_id == admin.user.pk and event.data["conversations"] == 1


# --- Folders ---------------------------------------------------------------------------------


def test_folders_file_and_unfile_conversations(client_as, tenant_a, conversation):
    with tenant_context(tenant_a):
        legal = Folder.objects.create(name="Legal")
    client = client_as(Role.AGENT, htmx=True)
    response = client.post(url(conversation, "folder/"), {"folder": legal.pk})
    assert response.status_code == 200
    assert reload(tenant_a, conversation).folder_id == legal.pk
    client.post(url(conversation, "folder/"), {"folder": ""})
    assert reload(tenant_a, conversation).folder_id is None


def test_folder_management_and_delete_unfiles(client_as, tenant_a, conversation):
    agent = client_as(Role.AGENT)
    assert agent.post("/conversations/folders/new/", {"name": "Sales leads"}).status_code == 302
    assert agent.post("/conversations/folders/new/", {"name": "sales LEADS"}).status_code == 400
    assert agent.post("/conversations/folders/new/", {"name": " "}).status_code == 400
    with tenant_context(tenant_a):
        folder = Folder.objects.get()
        Conversation.objects.filter(pk=conversation.pk).update(folder=folder)
    agent.post(f"/conversations/folders/{folder.pk}/", {"name": "Hot leads"})
    with tenant_context(tenant_a):
        folder.refresh_from_db()
        assert folder.name == "Hot leads"
    assert agent.post(f"/conversations/folders/{folder.pk}/delete/").status_code == 404
    admin = client_as(Role.OWNER)
    confirm = admin.get(f"/conversations/folders/{folder.pk}/delete/").content.decode()
    assert "go back to no folder" in confirm
    assert admin.post(f"/conversations/folders/{folder.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not Folder.objects.exists()
        assert Conversation.objects.get(pk=conversation.pk).folder_id is None
        assert AuditEvent.objects.filter(action="conversation_folder.deleted").exists()


# --- Notes -----------------------------------------------------------------------------------


def test_notes_added_listed_and_validated(client_as, tenant_a, conversation):
    client = client_as(Role.AGENT, htmx=True)
    response = client.post(url(conversation, "notes/"), {"body": "Called them back <b>today</b>"})
    fragment = response.content.decode()
    assert "Called them back &lt;b&gt;today&lt;/b&gt;" in fragment
    assert client.user.email in fragment
    empty = client.post(url(conversation, "notes/"), {"body": "   "}).content.decode()
    assert "field-error" in empty
    too_long = client.post(url(conversation, "notes/"), {"body": "x" * 4001}).content.decode()
    assert "field-error" in too_long
    with tenant_context(tenant_a):
        note = Note.objects.get()
        assert note.author_id == client.user.pk and note.conversation_id == conversation.pk


def test_an_author_deletes_their_own_note_not_anothers(client_as, tenant_a, conversation):
    author, colleague = client_as(Role.AGENT, htmx=True), client_as(Role.AGENT, htmx=True)
    author.post(url(conversation, "notes/"), {"body": "mine"})
    with tenant_context(tenant_a):
        note = Note.objects.get()
    page = colleague.get(url(conversation)).content.decode()
    assert f"notes/{note.pk}/delete/" not in page
    assert colleague.post(url(conversation, f"notes/{note.pk}/delete/")).status_code == 404
    with tenant_context(tenant_a):
        assert Note.objects.filter(pk=note.pk).exists()
    assert author.post(url(conversation, f"notes/{note.pk}/delete/")).status_code == 200
    with tenant_context(tenant_a):
        assert not Note.objects.exists()


def test_admins_may_delete_any_note(client_as, tenant_a, conversation):
    client_as(Role.AGENT).post(url(conversation, "notes/"), {"body": "agent note"})
    with tenant_context(tenant_a):
        note = Note.objects.get()
    admin = client_as(Role.ADMIN)
    assert admin.post(url(conversation, f"notes/{note.pk}/delete/")).status_code == 302
    with tenant_context(tenant_a):
        assert not Note.objects.exists()


# --- Deletion --------------------------------------------------------------------------------


def test_agents_cannot_delete_conversations(client_as, tenant_a, conversation):
    agent = client_as(Role.AGENT)
    assert agent.get(url(conversation, "delete/")).status_code == 404
    assert agent.post(url(conversation, "delete/")).status_code == 404
    assert reload(tenant_a, conversation)


def test_an_admin_deletes_after_confirming_and_the_audit_log_keeps_it(
    client_as, tenant_a, conversation
):
    with tenant_context(tenant_a):
        Note.objects.create(conversation=conversation, body="private")
    admin = client_as(Role.ADMIN)
    confirm = admin.get(url(conversation, "delete/"))
    assert confirm.status_code == 200
    assert "2 messages" in confirm.content.decode()
    response = admin.post(url(conversation, "delete/"), REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302 and response["Location"] == "/conversations/"
    with tenant_context(tenant_a):
        assert not Conversation.objects.filter(pk=conversation.pk).exists()
        assert not Message.objects.filter(conversation_id=conversation.pk).exists()
        assert not Note.objects.exists()
        event = AuditEvent.objects.get(action="conversation.deleted")
    assert event.object_id == str(conversation.pk) and event.actor_id == admin.user.pk
    assert event.ip_address == "10.9.8.7"
    assert event.data["messages"] == 2 and event.data["channel"] == "widget"
    recorded = str(event.data)
    assert "money" not in recorded and "Refunds" not in recorded and "Money back" not in recorded


# --- Isolation -------------------------------------------------------------------------------


def test_nothing_of_the_other_tenant_can_be_curated_from_here(
    client_as, tenant_a, tenant_b, conversation, conversation_in
):
    theirs = conversation_in(tenant_b, [("user", "beta")], title="Beta")
    with tenant_context(tenant_b):
        beta_tag = Tag.objects.create(name="beta-tag")
        beta_folder = Folder.objects.create(name="beta-folder")
        beta_note = Note.objects.create(conversation=theirs, body="beta note")
    owner = client_as(Role.OWNER)
    for path in (
        url(theirs, "flag/"),
        url(theirs, "notes/"),
        url(theirs, "delete/"),
        url(theirs, f"notes/{beta_note.pk}/delete/"),
    ):
        assert owner.post(path, {"flagged": "1", "body": "x"}).status_code == 404, path
    # Their tag and folder ids mean nothing here (alpha has none with those ids).
    assert owner.post(url(conversation, f"tags/{beta_tag.pk}/remove/")).status_code == 404
    assert owner.post(url(conversation, "folder/"), {"folder": beta_folder.pk}).status_code == 404
    assert owner.get(f"/conversations/tags/{beta_tag.pk}/delete/").status_code == 404
    with tenant_context(tenant_b):
        assert Conversation.objects.filter(pk=theirs.pk, flagged=False).exists()
        assert Note.objects.filter(pk=beta_note.pk).exists()
        assert Tag.objects.filter(pk=beta_tag.pk).exists()
    labels = owner.get("/conversations/labels/").content.decode()
    assert "beta-tag" not in labels and "beta-folder" not in labels
