"""Backoffice pages for models, providers and assistants: who may see and change what, and
that every change goes through its service with errors shown on the right field."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.knowledge.models import KnowledgeBase
from apps.llm import services
from apps.llm.models import Assistant, ModelDeployment, Provider
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory

HOST = "alpha.localhost"
ROLES = ["owner", "admin", "agent", "viewer", "outsider"]


@pytest.fixture
def people(tenant_a, seeded) -> dict:
    people = {"owner": seeded["alpha"].owner, "outsider": seeded["beta"].owner}
    for role in (Role.ADMIN, Role.AGENT, Role.VIEWER):
        person = UserFactory()
        membership_set(tenant=tenant_a, user=person, role=role)
        people[str(role)] = person
    return people


@pytest.fixture
def client_as(people):
    def make(role: str) -> Client:
        client = Client(HTTP_HOST=HOST)
        client.force_login(people[role])
        return client

    return make


@pytest.fixture
def admin(client_as) -> Client:
    return client_as("admin")


@pytest.fixture
def setup_a(tenant_a, fake_llm) -> dict:
    """An Ollama server (the fake one), a cloud account, models and an assistant in alpha."""
    with tenant_context(tenant_a):
        ollama = services.provider_create(name="gpu-1", kind="ollama", api_base=fake_llm.base_url)
        cloud = services.provider_create(
            name="openai", kind="openai", api_key="sk-live-secret-abcd1234"
        )
        local = services.deployment_create(provider=ollama, model_name="llama3.2:3b", alias="chat")
        remote = services.deployment_create(provider=cloud, model_name="gpt-4o-mini", alias="cloud")
        assistant = services.assistant_create(name="Support", default_model="chat")
    return {
        "ollama": ollama,
        "cloud": cloud,
        "local": local,
        "remote": remote,
        "assistant": assistant,
    }


def read_urls(s: dict) -> list[str]:
    return [
        "/llm/models/",
        f"/llm/providers/{s['ollama'].pk}/",
        f"/llm/providers/{s['cloud'].pk}/",
        f"/llm/providers/{s['ollama'].pk}/ollama/",
        f"/llm/providers/{s['ollama'].pk}/ollama/installed/",
        f"/llm/providers/{s['ollama'].pk}/ollama/pulls/",
        "/llm/assistants/",
        f"/llm/assistants/{s['assistant'].pk}/",
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("owner", 200), ("admin", 200), ("viewer", 200), ("agent", 404), ("outsider", 404)],
)
def test_pages_and_fragments_by_role(client_as, setup_a, role, expected):
    client = client_as(role)
    for url in read_urls(setup_a):
        response = client.get(url, HTTP_HX_REQUEST="true" if "/ollama/" in url else None)
        assert response.status_code == expected, url
        assert b"Traceback" not in response.content


def test_anonymous_is_sent_to_login(setup_a, tenant_a):
    for url in read_urls(setup_a):
        response = Client(HTTP_HOST=HOST).get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    ("role", "expected"),
    [("owner", 200), ("admin", 200), ("viewer", 404), ("agent", 404), ("outsider", 404)],
)
def test_new_assistant_page_is_for_admins(client_as, tenant_a, role, expected):
    assert client_as(role).get("/llm/assistants/new/").status_code == expected


def write_requests(s: dict) -> list[tuple[str, dict]]:
    ollama, local, assistant = s["ollama"].pk, s["local"].pk, s["assistant"].pk
    return [
        ("/llm/providers/", {"name": "x", "kind": "ollama", "timeout_seconds": 60}),
        (f"/llm/providers/{ollama}/", {"name": "renamed", "timeout_seconds": 60}),
        (f"/llm/providers/{ollama}/delete/", {}),
        ("/llm/models/add/", {"provider": ollama, "model_name": "qwen2.5:7b"}),
        (f"/llm/models/{local}/delete/", {}),
        (f"/llm/providers/{ollama}/ollama/pull/", {"model": "qwen2.5:0.5b"}),
        (f"/llm/providers/{ollama}/ollama/delete/", {"model": "llama3.2:3b"}),
        ("/llm/assistants/new/", {"name": "New", "temperature": 0.3, "max_tokens": 10}),
        (f"/llm/assistants/{assistant}/", {"name": "renamed", "temperature": 1}),
        (f"/llm/assistants/{assistant}/default/", {}),
        (f"/llm/assistants/{assistant}/delete/", {}),
    ]


@pytest.mark.parametrize("role", ["viewer", "agent", "outsider"])
def test_changes_are_refused_without_admin_role(
    client_as, setup_a, tenant_a, fake_llm, role, django_capture_on_commit_callbacks
):
    client = client_as(role)
    with django_capture_on_commit_callbacks() as callbacks:
        for url, data in write_requests(setup_a):
            assert client.post(url, data).status_code == 404, url
    assert callbacks == []  # no pull queued, no configuration bumped
    with tenant_context(tenant_a):
        assert sorted(Provider.objects.values_list("name", flat=True)) == ["gpu-1", "openai"]
        assert ModelDeployment.objects.count() == 2
        assert list(Assistant.objects.values_list("name", flat=True)) == ["Support"]
    assert "llama3.2:3b" in fake_llm.ollama_models


def test_viewer_sees_settings_read_only(client_as, setup_a):
    body = client_as("viewer").get(f"/llm/providers/{setup_a['cloud'].pk}/").content.decode()
    assert "…1234" in body
    assert "Save changes" not in body and "Delete provider" not in body
    page = client_as("viewer").get(f"/llm/assistants/{setup_a['assistant'].pk}/").content.decode()
    assert "disabled" in page and "Save changes" not in page


def test_nav_shows_links_to_members_who_may_open_them(client_as, tenant_a):
    assert 'href="/llm/models/"' in client_as("viewer").get("/").content.decode()
    assert 'href="/llm/assistants/"' in client_as("owner").get("/").content.decode()
    assert 'href="/llm/models/"' not in client_as("agent").get("/").content.decode()


# --- Providers --------------------------------------------------------------------------------


def test_models_page_lists_providers_with_only_the_key_tail(admin, setup_a):
    body = admin.get("/llm/models/").content.decode()
    assert "gpu-1" in body and "openai" in body
    assert "…1234" in body
    assert "sk-live-secret" not in body
    assert "gpt-4o-mini" in body and "Cloud" in body and "Local" in body


def test_add_provider_then_land_on_its_page(admin, tenant_a, fake_llm):
    response = admin.post(
        "/llm/providers/",
        {"name": "gpu-2", "kind": "ollama", "api_base": fake_llm.base_url, "timeout_seconds": 30},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        provider = Provider.objects.get(name="gpu-2")
    assert response["Location"] == f"/llm/providers/{provider.pk}/"
    page = admin.get(response["Location"]).content.decode()
    assert "Installed on this server" in page
    assert f"/llm/providers/{provider.pk}/ollama/" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "gpu-1", "kind": "ollama"}, "name", "already exists"),
        ({"name": "oa", "kind": "openai"}, "api_key", "needs an API key"),
        ({"name": "vllm", "kind": "openai_compatible"}, "api_base", "needs its base URL"),
        ({"name": "bad", "kind": "ollama", "api_base": "not a url"}, "api_base", "valid URL"),
        ({"name": "", "kind": "ollama"}, "name", "required"),
    ],
)
def test_provider_errors_show_on_their_field(admin, setup_a, data, field, message):
    response = admin.post("/llm/providers/", {"timeout_seconds": 60, **data})
    assert response.status_code == 400
    errors = response.context["provider_form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")


def test_edit_provider_keeps_replaces_or_clears_the_key(admin, setup_a, tenant_a):
    cloud = setup_a["cloud"]
    url = f"/llm/providers/{cloud.pk}/"
    base = {"name": "openai", "timeout_seconds": 20, "is_enabled": "on"}
    assert admin.post(url, base).status_code == 302
    with tenant_context(tenant_a):
        cloud.refresh_from_db()
        assert cloud.api_key == "sk-live-secret-abcd1234" and cloud.timeout_seconds == 20
    admin.post(url, {**base, "api_key": "sk-new-key-99998888"})
    with tenant_context(tenant_a):
        cloud.refresh_from_db()
        assert cloud.api_key_last4 == "8888"
    response = admin.post(url, {**base, "clear_api_key": "on"})
    assert response.status_code == 400  # an OpenAI account needs its key
    assert "needs an API key" in response.content.decode()
    with tenant_context(tenant_a):
        cloud.refresh_from_db()
        assert cloud.api_key_last4 == "8888"


def test_disable_and_delete_provider(admin, setup_a, tenant_a):
    ollama = setup_a["ollama"]
    admin.post(f"/llm/providers/{ollama.pk}/", {"name": "gpu-1", "timeout_seconds": 60})
    with tenant_context(tenant_a):
        assert Provider.objects.get(pk=ollama.pk).is_enabled is False
    response = admin.post(f"/llm/providers/{ollama.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/llm/models/"
    with tenant_context(tenant_a):
        assert not Provider.objects.filter(pk=ollama.pk).exists()
        assert not ModelDeployment.objects.filter(alias="chat").exists()
    assert admin.get(f"/llm/providers/{ollama.pk}/").status_code == 404


def test_provider_of_another_tenant_is_not_found(client_as, tenant_b):
    with tenant_context(tenant_b):
        foreign = services.provider_create(name="beta-gpu", kind="ollama")
    client = client_as("owner")
    assert client.get(f"/llm/providers/{foreign.pk}/").status_code == 404
    assert client.post(f"/llm/providers/{foreign.pk}/delete/").status_code == 404
    with tenant_context(tenant_b):
        assert Provider.objects.filter(pk=foreign.pk).exists()


# --- Models (deployments) ---------------------------------------------------------------------


def test_add_and_remove_a_model(admin, setup_a, tenant_a):
    ollama = setup_a["ollama"]
    response = admin.post(
        "/llm/models/add/",
        {"provider": ollama.pk, "model_name": "qwen2.5:7b", "alias": "chat", "priority": 1},
    )
    assert response.status_code == 302 and response["Location"] == "/llm/models/"
    with tenant_context(tenant_a):
        added = ModelDeployment.objects.get(model_name="qwen2.5:7b")
    assert added.alias == "chat" and added.priority == 1
    response = admin.post(
        f"/llm/models/{added.pk}/delete/", {"next": f"/llm/providers/{ollama.pk}/"}
    )
    assert response["Location"] == f"/llm/providers/{ollama.pk}/"
    with tenant_context(tenant_a):
        assert not ModelDeployment.objects.filter(pk=added.pk).exists()


def test_duplicate_model_is_a_field_error_on_the_page_it_came_from(admin, setup_a):
    ollama = setup_a["ollama"]
    data = {"provider": ollama.pk, "model_name": "llama3.2:3b", "alias": "chat"}
    on_models = admin.post("/llm/models/add/", data)
    assert on_models.status_code == 400
    assert "already serves" in " ".join(on_models.context["deployment_form"].errors["model_name"])
    on_provider = admin.post("/llm/models/add/", {**data, "next": f"/llm/providers/{ollama.pk}/"})
    assert on_provider.status_code == 400
    assert on_provider.context["provider"].pk == ollama.pk


def test_next_never_leaves_the_llm_pages(admin, setup_a):
    response = admin.post(
        f"/llm/models/{setup_a['local'].pk}/delete/", {"next": "https://evil.test/"}
    )
    assert response["Location"] == "/llm/models/"


def test_models_list_paginates(admin, setup_a, tenant_a):
    with tenant_context(tenant_a):
        for number in range(25):
            services.deployment_create(
                provider=setup_a["ollama"], model_name=f"m{number:02d}", alias=f"m{number:02d}"
            )
    first = admin.get("/llm/models/").content.decode()
    assert "1\N{EN DASH}20 of 27" in first and "page=2" in first
    second = admin.get("/llm/models/?page=2").content.decode()
    assert "21\N{EN DASH}27 of 27" in second and "m24" in second and "m00" not in second


# --- Assistants -------------------------------------------------------------------------------


def assistant_data(**overrides) -> dict:
    data = {
        "name": "Sales",
        "default_model": "chat",
        "temperature": "0.5",
        "max_tokens": "800",
        "history_budget_tokens": "2000",
        "max_tool_steps": "2",
        "retrieval_limit": "4",
        "system_prompt": "You sell things.",
    }
    return {**data, **overrides}


def test_create_assistant_with_fallbacks_and_knowledge(admin, setup_a, tenant_a):
    with tenant_context(tenant_a):
        kb = KnowledgeBase.objects.create(name="Handbook")
    page = admin.get("/llm/assistants/new/").content.decode()
    assert "Handbook" in page and 'value="cloud"' in page
    response = admin.post(
        "/llm/assistants/new/",
        assistant_data(
            fallback_models=["cloud"], allow_cloud_fallback="on", knowledge_bases=[kb.pk]
        ),
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    with tenant_context(tenant_a):
        sales = Assistant.objects.get(name="Sales")
        assert sales.fallback_models == ["cloud"]
        assert sales.allow_cloud_fallback is True and sales.temperature == 0.5
        assert list(sales.knowledge_bases.all()) == [kb]
        assert sales.is_default is False  # Support stays the default


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Support"}, "name", "already exists"),
        ({"temperature": "3"}, "temperature", "less than or equal to 2"),
        ({"default_model": "nope"}, "default_model", "valid choice"),
        ({"fallback_models": ["chat"]}, "fallback_models", "cannot also be its fallback"),
        ({"max_tokens": "0"}, "max_tokens", "greater than or equal to 1"),
    ],
)
def test_assistant_errors_show_on_their_field(admin, setup_a, overrides, field, message):
    response = admin.post("/llm/assistants/new/", assistant_data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors.get(field, [])), errors


def test_edit_assistant_reports_a_model_that_no_longer_exists(admin, setup_a, tenant_a):
    assistant = setup_a["assistant"]
    with tenant_context(tenant_a):
        services.deployment_delete(deployment=setup_a["local"])
    page = admin.get(f"/llm/assistants/{assistant.pk}/").content.decode()
    assert "chat (no longer configured)" in page
    response = admin.post(
        f"/llm/assistants/{assistant.pk}/", assistant_data(name="Support", default_model="chat")
    )
    assert response.status_code == 400
    assert "Unknown model(s): chat" in " ".join(response.context["form"].errors["default_model"])
    fixed = admin.post(
        f"/llm/assistants/{assistant.pk}/", assistant_data(name="Support", default_model="cloud")
    )
    assert fixed.status_code == 302
    with tenant_context(tenant_a):
        assert Assistant.objects.get(pk=assistant.pk).default_model == "cloud"


def test_set_default_and_delete_default_hands_over(admin, setup_a, tenant_a):
    with tenant_context(tenant_a):
        other = services.assistant_create(name="Another")
    admin.post(f"/llm/assistants/{other.pk}/default/")
    with tenant_context(tenant_a):
        assert Assistant.objects.get(is_default=True).pk == other.pk
    admin.post(f"/llm/assistants/{other.pk}/delete/")
    with tenant_context(tenant_a):
        assert Assistant.objects.get(is_default=True).name == "Support"
    listing = admin.get("/llm/assistants/").content.decode()
    assert f'href="/llm/assistants/{other.pk}/"' not in listing and "Default" in listing


def test_assistant_list_paginates(admin, tenant_a):
    with tenant_context(tenant_a):
        for number in range(23):
            services.assistant_create(name=f"Bot {number:02d}")
    first = admin.get("/llm/assistants/").content.decode()
    assert "1\N{EN DASH}20 of 23" in first
    second = admin.get("/llm/assistants/?page=2").content.decode()
    assert "Bot 22" in second and "Bot 05" not in second
