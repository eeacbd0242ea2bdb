"""Every backoffice URL, walked with every role: each role reaches exactly the allowed set.

The table below is the access policy (docs/architecture.md, "Roles"): owners do everything;
admins everything but the tenant's security settings; agents work on conversations only;
viewers read conversations and the assistant's configuration but change nothing. A role
outside the allowed set gets the same 404 as a stranger, so a page never says whether
something exists. A new backoffice URL fails `test_every_backoffice_url_is_in_the_table`
until someone decides who may open it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django_tenants.utils import tenant_context

from apps.accounts.services import api_key_create
from apps.connectors.models import ApprovedTable
from apps.connectors.services import connection_create, named_query_create
from apps.conversations import curation
from apps.knowledge import services as knowledge
from apps.llm import services as llm
from apps.tenants.models import Role
from apps.tenants.services import invitation_create, membership_set
from apps.tools.services import http_tool_create
from apps.widgets.services import widget_create
from tests.conversations.conftest import write_conversation
from tests.factories import UserFactory

OWNER, ADMIN, AGENT, VIEWER = Role.OWNER, Role.ADMIN, Role.AGENT, Role.VIEWER
EVERYONE = frozenset({OWNER, ADMIN, AGENT, VIEWER})
READERS = frozenset({OWNER, ADMIN, VIEWER})  # configuration, read-only for viewers
CURATORS = frozenset({OWNER, ADMIN, AGENT})  # flag, tag, file and annotate conversations
ADMINS = frozenset({OWNER, ADMIN})
OWNERS = frozenset({OWNER})

# url name -> who may open it. Keyword arguments come from `objects` below by name.
POLICY: dict[str, frozenset[str]] = {
    "backoffice:dashboard": EVERYONE,
    # Conversations: everyone reads and exports; agents curate; admins delete.
    "conversations:list": EVERYONE,
    "conversations:export-list": EVERYONE,
    "conversations:labels": EVERYONE,
    "conversations:detail": EVERYONE,
    "conversations:export": EVERYONE,
    "conversations:tag-add": CURATORS,
    "conversations:tag-edit": CURATORS,
    "conversations:folder-add": CURATORS,
    "conversations:folder-edit": CURATORS,
    "conversations:flag": CURATORS,
    "conversations:tag-on": CURATORS,
    "conversations:tag-off": CURATORS,
    "conversations:folder": CURATORS,
    "conversations:note-add": CURATORS,
    "conversations:note-delete": CURATORS,
    "conversations:tag-delete": ADMINS,
    "conversations:folder-delete": ADMINS,
    "conversations:delete": ADMINS,
    # Assistants, models and knowledge: viewers read, admins change.
    "llm:models": READERS,
    "llm:provider": READERS,
    "llm:ollama": READERS,
    "llm:ollama-installed": READERS,
    "llm:ollama-pulls": READERS,
    "llm:assistants": READERS,
    "llm:assistant": READERS,
    "llm:model-add": ADMINS,
    "llm:model-test": ADMINS,
    "llm:model-delete": ADMINS,
    "llm:provider-add": ADMINS,
    "llm:provider-delete": ADMINS,
    "llm:ollama-pull": ADMINS,
    "llm:ollama-delete": ADMINS,
    "llm:assistant-add": ADMINS,
    "llm:assistant-default": ADMINS,
    "llm:assistant-delete": ADMINS,
    "knowledge:list": READERS,
    "knowledge:detail": READERS,
    "knowledge:sources": READERS,
    "knowledge:try": READERS,
    "knowledge:upload": ADMINS,
    "knowledge:url": ADMINS,
    "knowledge:text": ADMINS,
    "knowledge:delete": ADMINS,
    "knowledge:reingest": ADMINS,
    "knowledge:source_delete": ADMINS,
    # Internal data, tools, the widget's secrets, people, keys and the audit log: admins.
    "connectors:list": ADMINS,
    "connectors:detail": ADMINS,
    "connectors:test": ADMINS,
    "connectors:delete": ADMINS,
    "connectors:sql_tool": ADMINS,
    "connectors:tables": ADMINS,
    "connectors:approve": ADMINS,
    "connectors:revoke": ADMINS,
    "connectors:queries": ADMINS,
    "connectors:query": ADMINS,
    "connectors:query_run": ADMINS,
    "connectors:query_delete": ADMINS,
    "tools:list": ADMINS,
    "tools:detail": ADMINS,
    "tools:test": ADMINS,
    "tools:delete": ADMINS,
    "widgets:settings": ADMINS,
    "widgets:detail": ADMINS,
    "widgets:preview": ADMINS,
    "widgets:secret": ADMINS,
    "widgets:secret-rotate": ADMINS,
    "audit:list": ADMINS,
    "backoffice:team": ADMINS,
    "backoffice:team-invite": ADMINS,
    "backoffice:member-role": ADMINS,
    "backoffice:member-remove": ADMINS,
    "backoffice:invitation-resend": ADMINS,
    "backoffice:invitation-revoke": ADMINS,
    "backoffice:api-keys": ADMINS,
    "backoffice:api-key-revoke": ADMINS,
    # The tenant's sign-in rules (two-factor requirement): owners.
    "accounts:tenant-security": OWNERS,
}

# Not tenant pages: a person's own account, the sign-in flow, and links sent by email.
OUTSIDE_THE_POLICY = {
    "accounts:security",  # your own password and two-factor settings, in any tenant
    "accounts:switch",  # checks membership of the *target* tenant (tests/accounts)
    "accounts:handoff",  # signed single-use token (tests/accounts)
    "backoffice:invite-accept",  # token link, opened before having an account
}
# Async views read the membership from a database thread, which cannot see this test's
# uncommitted rows: only their refusals are walked here; tests/llm/test_views_model_test.py
# covers the allowed roles against committed data.
REFUSALS_ONLY = {"llm:model-test"}
BACKOFFICE_NAMESPACES = {
    "backoffice", "conversations", "llm", "knowledge", "connectors", "tools", "widgets",
    "audit", "accounts",
}  # fmt: skip


def named_urls() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or namespace
                walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name and namespace:
                names.add(f"{namespace}:{pattern.name}")

    walk(get_resolver("config.urls").url_patterns, "")
    return {name for name in names if name.split(":")[0] in BACKOFFICE_NAMESPACES}


def test_every_backoffice_url_is_in_the_table():
    assert named_urls() - OUTSIDE_THE_POLICY == set(POLICY)


@pytest.fixture
def objects(seeded, tenant_a) -> dict[str, dict[str, Any]]:
    """One of everything in alpha, and the URL keyword arguments that reach it."""
    owner = seeded["alpha"].owner
    conversation = write_conversation(
        tenant_a, [("user", "Where is my order?"), ("assistant", "It ships today.")]
    )
    colleague = UserFactory()
    member = membership_set(tenant=tenant_a, user=colleague, role=VIEWER)
    invitation = invitation_create(
        tenant=tenant_a,
        email="new.person@example.com",
        role=AGENT,
        actor=owner,
        base_url="http://alpha.localhost",
    ).invitation
    key = api_key_create(tenant=tenant_a, name="reporting").api_key
    with tenant_context(tenant_a):
        tag = curation.tag_create(name="billing")
        curation.conversation_tag_add(conversation=conversation, tag=tag)
        folder = curation.folder_create(name="Legal review")
        note = curation.note_create(conversation=conversation, author=owner, body="Call back.")
        # Port 9 (discard) refuses at once: the Ollama panels render their "unreachable" state.
        provider = llm.provider_create(name="gpu", kind="ollama", api_base="http://127.0.0.1:9")
        deployment = llm.deployment_create(provider=provider, model_name="llama3", alias="chat")
        assistant = llm.assistant_create(name="Support", default_model="chat")
        kb = knowledge.knowledge_base_create(name="Help centre")
        source = knowledge.source_create_text(
            knowledge_base=kb, title="Returns", text="Returns within 30 days.", queue=False
        )
        connection = connection_create(
            name="warehouse",
            engine="postgresql",
            host="127.0.0.1",
            port=5432,
            database="postgres",
            username="postgres",
        )
        table = ApprovedTable.objects.create(
            connection=connection, schema_name="public", table_name="orders", columns=["id"]
        )
        query = named_query_create(
            name="order_count",
            description="How many orders there are.",
            connection=connection,
            sql="SELECT 1 AS orders",
        )
        tool = http_tool_create(
            name="order_status",
            description="Look up an order.",
            url_template="https://api.example.com/orders",
            allowed_hosts=["api.example.com"],
        )
        widget = widget_create(name="Shop")
    by_name: dict[str, dict[str, Any]] = {
        "conversations:export-list": {"fmt": "csv"},
        "conversations:export": {"pk": conversation.pk, "fmt": "json"},
        "conversations:tag-edit": {"pk": tag.pk},
        "conversations:tag-delete": {"pk": tag.pk},
        "conversations:folder-edit": {"pk": folder.pk},
        "conversations:folder-delete": {"pk": folder.pk},
        "conversations:tag-off": {"pk": conversation.pk, "tag_pk": tag.pk},
        "conversations:note-delete": {"pk": conversation.pk, "note_pk": note.pk},
        "llm:model-delete": {"pk": deployment.pk},
        "knowledge:reingest": {"pk": kb.pk, "source_pk": source.pk},
        "knowledge:source_delete": {"pk": kb.pk, "source_pk": source.pk},
        "connectors:revoke": {"pk": connection.pk, "table_pk": table.pk},
        "backoffice:member-role": {"pk": member.pk},
        "backoffice:member-remove": {"pk": member.pk},
        "backoffice:invitation-resend": {"pk": invitation.pk},
        "backoffice:invitation-revoke": {"pk": invitation.pk},
        "backoffice:api-key-revoke": {"pk": key.pk},
    }
    by_prefix = {
        "conversations:": {"pk": conversation.pk},
        "llm:provider": {"pk": provider.pk},
        "llm:ollama": {"pk": provider.pk},
        "llm:assistant": {"pk": assistant.pk},
        "knowledge:": {"pk": kb.pk},
        "connectors:quer": {"pk": query.pk},
        "connectors:": {"pk": connection.pk},
        "tools:": {"pk": tool.pk},
        "widgets:": {"pk": widget.pk},
    }
    kwargs: dict[str, dict[str, Any]] = {}
    for name in POLICY:
        if name in by_name:
            kwargs[name] = by_name[name]
            continue
        for prefix, value in by_prefix.items():
            if name.startswith(prefix):
                try:
                    reverse(name, kwargs=value)
                except NoReverseMatch:  # this URL takes no pk
                    continue
                kwargs[name] = value
                break
        kwargs.setdefault(name, {})
    return kwargs


def client_for(tenant_a, tenant_b, role: str) -> Client:
    person = UserFactory()
    if role == "stranger":  # an owner elsewhere, signed in on alpha's host
        membership_set(tenant=tenant_b, user=person, role=OWNER)
    else:
        membership_set(tenant=tenant_a, user=person, role=role)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(person)
    return client


@pytest.mark.parametrize("role", [OWNER, ADMIN, AGENT, VIEWER, "stranger"])
def test_each_role_reaches_exactly_its_pages(role, objects, tenant_a, tenant_b):
    client = client_for(tenant_a, tenant_b, role)
    wrong: list[str] = []
    for name, allowed in POLICY.items():
        url = reverse(name, kwargs=objects[name])
        for method in ("get", "post"):
            if method == "post" and role in allowed:
                continue  # allowed writes are the subject of each page's own tests
            response = getattr(client, method)(url)
            status = response.status_code
            if role in allowed and name in REFUSALS_ONLY:
                continue
            if role in allowed:
                reached = (
                    status < 500
                    and status not in (403, 404)
                    and (status != 302 or "/login/" not in response["Location"])
                )
                if not reached:
                    wrong.append(f"{method.upper()} {url} ({name}): {status}, expected a page")
            elif status != 404:
                wrong.append(f"{method.upper()} {url} ({name}): {status}, expected 404")
    assert not wrong, "\n".join(wrong)


def test_denied_writes_changed_nothing(objects, tenant_a, tenant_b):
    from apps.conversations.models import Conversation, Folder, Note, Tag
    from apps.knowledge.models import KnowledgeBase, Source

    with tenant_context(tenant_a):
        before = [
            model.objects.count()
            for model in (Conversation, Tag, Folder, Note, KnowledgeBase, Source)
        ]
    for role in (VIEWER, "stranger"):
        client = client_for(tenant_a, tenant_b, role)
        for name in (
            "conversations:delete",
            "conversations:tag-delete",
            "conversations:folder-delete",
            "conversations:note-delete",
            "knowledge:delete",
            "knowledge:source_delete",
        ):
            assert client.post(reverse(name, kwargs=objects[name])).status_code == 404
    with tenant_context(tenant_a):
        after = [
            model.objects.count()
            for model in (Conversation, Tag, Folder, Note, KnowledgeBase, Source)
        ]
    assert after == before


def test_signed_out_visitors_are_sent_to_sign_in(objects):
    client = Client(HTTP_HOST="alpha.localhost")
    for name in ("backoffice:dashboard", "conversations:list", "llm:models", "backoffice:team"):
        response = client.get(reverse(name, kwargs=objects[name]))
        assert response.status_code == 302 and "/login/" in response["Location"]
