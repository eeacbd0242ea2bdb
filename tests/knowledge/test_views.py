"""Backoffice pages: viewers read, admins change; sources show live status; try a question."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context

from apps.knowledge import services
from apps.knowledge.models import KnowledgeBase, Source
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory
from tests.knowledge.conftest import ingest


@pytest.fixture
def client_as(tenant_a, media_root):
    def make(role: str) -> Client:
        person = UserFactory()
        membership_set(tenant=tenant_a, user=person, role=role)
        client = Client(HTTP_HOST="alpha.localhost")
        client.force_login(person)
        return client

    return make


@pytest.fixture
def handbook(tenant_a, media_root):
    with tenant_context(tenant_a):
        kb = services.knowledge_base_create(name="Handbook")
        ingest(
            services.source_create_text(
                knowledge_base=kb, title="Holidays", text="Staff get 25 paid vacation days a year."
            )
        )
        return kb


def test_viewer_sees_knowledge_bases_and_sources_but_no_forms(client_as, handbook):
    client = client_as(Role.VIEWER)
    page = client.get("/knowledge/").content.decode()
    assert "Handbook" in page and "New knowledge base" not in page
    detail = client.get(f"/knowledge/{handbook.pk}/").content.decode()
    assert "Holidays" in detail and "ready" in detail and "Upload a file" not in detail


def test_viewer_cannot_change_anything(client_as, handbook, tenant_a):
    client = client_as(Role.VIEWER)
    assert client.post("/knowledge/", {"name": "Sneaky"}).status_code == 404
    assert (
        client.post(f"/knowledge/{handbook.pk}/text/", {"title": "t", "text": "x"}).status_code
        == 404
    )
    assert client.post(f"/knowledge/{handbook.pk}/delete/").status_code == 404
    with tenant_context(tenant_a):
        assert list(KnowledgeBase.objects.values_list("name", flat=True)) == ["Handbook"]
        assert Source.objects.filter(knowledge_base=handbook).count() == 1


def test_admin_creates_a_knowledge_base_and_uploads(
    client_as, tenant_a, django_capture_on_commit_callbacks
):
    client = client_as(Role.ADMIN)
    response = client.post("/knowledge/", {"name": "Policies", "description": "HR"})
    assert response.status_code == 302
    with tenant_context(tenant_a):
        kb = KnowledgeBase.objects.get(name="Policies")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            f"/knowledge/{kb.pk}/upload/",
            {"file": SimpleUploadedFile("rules.md", b"# Rules\n\nBe kind.\n")},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the ingestion task
    with tenant_context(tenant_a):
        source = Source.objects.get(knowledge_base=kb)
    assert source.title == "rules.md" and source.status == "queued"
    table = client.get(f"/knowledge/{kb.pk}/sources/").content.decode()
    assert 'hx-trigger="every 2s"' in table and "queued" in table


def test_several_files_at_once_and_a_refused_one_loses_nothing(
    client_as, handbook, tenant_a, settings
):
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1000
    client = client_as(Role.ADMIN)
    response = client.post(
        f"/knowledge/{handbook.pk}/upload/",
        {
            "file": [
                SimpleUploadedFile("faq.md", b"# FAQ\n\nAsk us.\n"),
                SimpleUploadedFile("huge.txt", b"x" * 5000),
                SimpleUploadedFile("terms.txt", b"Terms apply."),
            ]
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "huge.txt:" in page  # the refused file, named
    assert "Queued for ingestion: faq.md, terms.txt." in page  # and what went through
    with tenant_context(tenant_a):
        titles = set(Source.objects.filter(knowledge_base=handbook).values_list("title", flat=True))
    assert {"faq.md", "terms.txt"} <= titles and "huge.txt" not in titles


def test_bad_url_is_explained_on_the_form(client_as, handbook):
    client = client_as(Role.ADMIN)
    response = client.post(
        f"/knowledge/{handbook.pk}/url/",
        {"url": "ftp://example.com/", "max_depth": 2, "max_pages": 10},
    )
    assert response.status_code == 400
    assert "Enter a valid URL" in response.content.decode() or "http" in response.content.decode()


def test_try_a_question_shows_ranked_chunks(client_as, handbook):
    client = client_as(Role.VIEWER)
    response = client.post(
        f"/knowledge/{handbook.pk}/try/", {"question": "how many vacation days?"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Holidays" in body and "25 paid vacation days" in body


def test_admin_deletes_a_source(client_as, handbook, tenant_a):
    with tenant_context(tenant_a):
        source = Source.objects.get(knowledge_base=handbook)
    client = client_as(Role.ADMIN)
    assert client.post(f"/knowledge/{handbook.pk}/sources/{source.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not Source.objects.filter(pk=source.pk).exists()


def test_other_tenants_members_get_404(handbook, seeded):
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["beta"].owner)
    assert client.get(f"/knowledge/{handbook.pk}/").status_code == 404
    assert client.get("/knowledge/").status_code == 404


def test_a_paste_over_the_limit_is_a_form_error_that_keeps_the_text(client_as, handbook, tenant_a):
    client = client_as(Role.ADMIN)
    text = "word " * 540_000  # 2.7 MB: over Django's default body cap of 2.5 MB
    response = client.post(f"/knowledge/{handbook.pk}/text/", {"title": "Long", "text": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert "upload a longer text as a file" in page
    assert "word word word" in page  # what was pasted is still in the form
    with tenant_context(tenant_a):
        assert Source.objects.filter(knowledge_base=handbook).count() == 1  # nothing added
