"""Tenant REST API for providers, models and assistants: key scopes, write-only secrets,
validation errors in the one error shape, and isolation between tenants."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.services import api_key_create
from apps.knowledge.models import KnowledgeBase
from apps.llm import services
from apps.llm.models import Assistant, ModelDeployment, Provider

SECRET = "sk-live-very-secret-9876"


class Api:
    """A JSON client with one tenant API key. The host is the platform host: the key routes."""

    def __init__(self, token: str | None) -> None:
        self.client = Client(HTTP_HOST="localhost")
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: dict | None = None):
        kwargs = {"content_type": "application/json", **self.headers}
        if body is not None:
            kwargs["data"] = json.dumps(body)
        response = getattr(self.client, method)(f"/api/v1{path}", **kwargs)
        connection.set_schema_to_public()  # the key switched this thread's connection
        response.json_body = json.loads(response.content) if response.content else None
        return response

    def get(self, path):
        return self.call("get", path)

    def post(self, path, body):
        return self.call("post", path, body)

    def patch(self, path, body):
        return self.call("patch", path, body)

    def delete(self, path):
        return self.call("delete", path)


@pytest.fixture
def key_for(tenant_a, tenant_b):
    tenants = {"alpha": tenant_a, "beta": tenant_b}

    def make(*scopes: str, tenant: str = "alpha") -> Api:
        created = api_key_create(tenant=tenants[tenant], name="test", scopes=list(scopes))
        return Api(created.plaintext)

    return make


@pytest.fixture
def writer(key_for) -> Api:
    return key_for("read", "write")


@pytest.fixture
def ollama_a(tenant_a) -> Provider:
    with tenant_context(tenant_a):
        return services.provider_create(name="gpu-1", kind="ollama")


# --- Authentication and scopes ----------------------------------------------------------------


def test_no_key_or_a_bad_key_is_401_in_the_error_shape(tenant_a):
    missing = Api(None).get("/providers/")
    assert missing.status_code == 401
    assert missing.json_body["error"]["code"] == "not_authenticated"
    wrong = Api("sk_nope_nope").get("/providers/")
    assert wrong.status_code == 401
    assert wrong.json_body["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("scopes", "can_read", "can_write"),
    [
        (["chat"], False, False),
        (["read"], True, False),
        (["write"], True, True),
        (["admin"], True, True),
    ],
)
def test_scopes(key_for, scopes, can_read, can_write):
    api = key_for(*scopes)
    read = api.get("/providers/")
    assert read.status_code == (200 if can_read else 403)
    created = api.post("/providers/", {"name": "gpu", "kind": "ollama"})
    assert created.status_code == (201 if can_write else 403)
    if not can_write:
        assert created.json_body["error"] == {
            "code": "permission_denied",
            "message": "This API key lacks the 'write' scope.",
        }


# --- Providers ----------------------------------------------------------------------------------


def test_create_provider_never_returns_the_key(writer, tenant_a):
    response = writer.post(
        "/providers/",
        {"name": "openai", "kind": "openai", "api_key": SECRET, "timeout_seconds": 30},
    )
    assert response.status_code == 201
    body = response.json_body
    assert body["api_key_last4"] == "9876" and body["has_api_key"] is True
    assert "api_key" not in body and SECRET not in response.content.decode()
    assert body["is_local"] is False and body["timeout_seconds"] == 30
    detail = writer.get(f"/providers/{body['id']}/")
    listing = writer.get("/providers/")
    assert SECRET not in detail.content.decode() + listing.content.decode()
    assert listing.json_body["count"] == 1
    with tenant_context(tenant_a):
        assert Provider.objects.get(pk=body["id"]).api_key == SECRET


def test_update_keeps_replaces_or_clears_the_key(writer, tenant_a):
    created = writer.post("/providers/", {"name": "vllm", "kind": "openai_compatible",
                                          "api_base": "http://gpu-1.internal:8000/v1",
                                          "api_key": SECRET}).json_body  # fmt: skip
    url = f"/providers/{created['id']}/"
    kept = writer.patch(url, {"timeout_seconds": 5, "is_enabled": False}).json_body
    assert kept["api_key_last4"] == "9876" and kept["is_enabled"] is False
    replaced = writer.patch(url, {"api_key": "another-secret-1111"}).json_body
    assert replaced["api_key_last4"] == "1111"
    cleared = writer.patch(url, {"api_key": ""}).json_body
    assert cleared["api_key_last4"] == "" and cleared["has_api_key"] is False
    with tenant_context(tenant_a):
        assert Provider.objects.get(pk=created["id"]).api_key == ""


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "ollama"}, 400, "invalid_input", "name"),
        ({"name": "x", "kind": "skynet"}, 400, "invalid_input", "kind"),
        ({"name": "x", "kind": "ollama", "timeout_seconds": 0}, 400, "invalid_input", "timeout_seconds"),
        ({"name": "x", "kind": "ollama", "api_base": "not a url"}, 400, "invalid_input", "api_base"),
        ({"name": "x", "kind": "openai"}, 400, "api_key_required", None),
        ({"name": "x", "kind": "openai_compatible"}, 400, "api_base_required", None),
        ({"name": "gpu-1", "kind": "ollama"}, 409, "duplicate_provider", None),
    ],
)  # fmt: skip
def test_provider_validation_errors(writer, ollama_a, body, status, code, field):
    response = writer.post("/providers/", body)
    assert response.status_code == status
    error = response.json_body["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["details"]


def test_delete_provider(writer, ollama_a, tenant_a):
    assert writer.delete(f"/providers/{ollama_a.pk}/").status_code == 204
    assert writer.get(f"/providers/{ollama_a.pk}/").status_code == 404
    with tenant_context(tenant_a):
        assert not Provider.objects.exists()


# --- Models -------------------------------------------------------------------------------------


def test_models_create_list_filter_and_delete(writer, ollama_a, tenant_a):
    created = writer.post(
        "/models/", {"provider": ollama_a.pk, "model_name": "llama3.2:3b", "alias": "chat"}
    )
    assert created.status_code == 201, created.json_body
    body = created.json_body
    assert body["alias"] == "chat" and body["priority"] == 0 and body["is_local"] is True
    assert body["provider_name"] == "gpu-1"
    writer.post("/models/", {"provider": ollama_a.pk, "model_name": "qwen2.5:7b"})
    assert writer.get("/models/").json_body["count"] == 2
    assert [m["model_name"] for m in writer.get("/models/?alias=chat").json_body["results"]] == [
        "llama3.2:3b"
    ]
    assert writer.get(f"/models/?provider={ollama_a.pk}").json_body["count"] == 2
    assert writer.get("/models/?provider=x").status_code == 400
    assert writer.get(f"/models/{body['id']}/").json_body["model_name"] == "llama3.2:3b"
    assert writer.delete(f"/models/{body['id']}/").status_code == 204
    with tenant_context(tenant_a):
        assert list(ModelDeployment.objects.values_list("alias", flat=True)) == ["qwen2.5:7b"]


def test_model_validation_errors(writer, ollama_a):
    missing_provider = writer.post("/models/", {"provider": 999999, "model_name": "x"})
    assert missing_provider.status_code == 400
    assert "provider" in missing_provider.json_body["error"]["details"]
    writer.post("/models/", {"provider": ollama_a.pk, "model_name": "x"})
    duplicate = writer.post("/models/", {"provider": ollama_a.pk, "model_name": "x"})
    assert duplicate.status_code == 409
    assert duplicate.json_body["error"]["code"] == "duplicate_model"


def test_models_list_paginates(writer, ollama_a, tenant_a):
    with tenant_context(tenant_a):
        for number in range(7):
            services.deployment_create(provider=ollama_a, model_name=f"m{number}")
    page = writer.get("/models/?limit=5").json_body
    assert page["count"] == 7 and len(page["results"]) == 5 and page["next"]
    rest = writer.get("/models/?limit=5&offset=5").json_body
    assert len(rest["results"]) == 2 and rest["next"] is None


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=abc", 400, "invalid_input"),
        ("limit=-1", 400, "invalid_input"),
        ("offset=1.5", 400, "invalid_input"),
        ("alias=%00", 400, "invalid_query"),
        ("limit=99999999999999999999", 200, None),  # capped, not a database error
        ("offset=99999999999999999999", 200, None),  # past the end: an empty page
    ],
)
def test_list_parameters_out_of_range_are_400s_or_capped(writer, ollama_a, query, status, code):
    response = writer.get(f"/models/?{query}")
    assert response.status_code == status, response.json_body
    if code:
        assert response.json_body["error"]["code"] == code
    else:
        assert len(response.json_body["results"]) <= 500


def test_unknown_api_addresses_are_json_404s(writer):
    assert writer.get("/nope/").json_body == {
        "error": {"code": "not_found", "message": "Nothing here."}
    }
    openai = Client(HTTP_HOST="localhost").get("/v1/embeddings")
    assert openai.status_code == 404
    assert openai.json()["error"]["code"] == "not_found"  # OpenAI's shape
    assert Client(HTTP_HOST="localhost").get("/nope/").status_code == 404  # pages: HTML


# --- Assistants ---------------------------------------------------------------------------------


@pytest.fixture
def models_a(ollama_a, tenant_a):
    with tenant_context(tenant_a):
        services.deployment_create(provider=ollama_a, model_name="llama3.2:3b", alias="chat")
        services.deployment_create(provider=ollama_a, model_name="qwen2.5:7b", alias="backup")
        return KnowledgeBase.objects.create(name="Handbook")


def test_assistant_create_read_update_delete(writer, models_a, tenant_a):
    kb = models_a
    created = writer.post(
        "/assistants/",
        {
            "name": "Support",
            "default_model": "chat",
            "fallback_models": ["backup"],
            "temperature": 0.2,
            "knowledge_bases": [kb.pk],
            "system_prompt": "Be brief.",
        },
    )
    assert created.status_code == 201, created.json_body
    body = created.json_body
    assert body["is_default"] is True  # the first assistant becomes the default
    assert body["knowledge_bases"] == [kb.pk] and body["fallback_models"] == ["backup"]
    url = f"/assistants/{body['id']}/"
    assert writer.get(url).json_body["system_prompt"] == "Be brief."
    changed = writer.patch(url, {"max_tokens": 300, "allow_cloud_fallback": True}).json_body
    assert changed["max_tokens"] == 300 and changed["allow_cloud_fallback"] is True
    other = writer.post("/assistants/", {"name": "Sales"}).json_body
    assert other["is_default"] is False
    assert writer.get("/assistants/").json_body["count"] == 2
    assert writer.delete(url).status_code == 204
    with tenant_context(tenant_a):
        assert Assistant.objects.get(is_default=True).name == "Sales"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"name": "X", "default_model": "nope"}, 400, "unknown_model", None),
        ({"name": "X", "fallback_models": ["nope"]}, 400, "unknown_model", None),
        ({"name": "X", "temperature": 5}, 400, "invalid_input", "temperature"),
        ({"name": "X", "knowledge_bases": [999999]}, 400, "invalid_input", "knowledge_bases"),
        ({"name": "X", "max_tool_steps": -1}, 400, "invalid_input", "max_tool_steps"),
        ({}, 400, "invalid_input", "name"),
    ],
)
def test_assistant_validation_errors(writer, models_a, body, status, code, field):
    response = writer.post("/assistants/", body)
    assert response.status_code == status
    error = response.json_body["error"]
    assert error["code"] == code
    if field:
        assert field in error["details"]


def test_assistant_rename_to_a_taken_name_is_a_field_error(writer, models_a):
    first = writer.post("/assistants/", {"name": "One"}).json_body
    writer.post("/assistants/", {"name": "Two"})
    response = writer.patch(f"/assistants/{first['id']}/", {"name": "Two"})
    assert response.status_code == 400
    assert "name" in response.json_body["error"]["details"]


# --- Isolation ------------------------------------------------------------------------------------


def test_a_key_of_beta_never_sees_or_changes_alphas_objects(key_for, ollama_a, tenant_a):
    with tenant_context(tenant_a):
        deployment = services.deployment_create(provider=ollama_a, model_name="x")
        assistant = services.assistant_create(name="Alpha bot")
    beta = key_for("admin", tenant="beta")
    assert beta.get("/providers/").json_body["count"] == 0
    assert beta.get("/models/").json_body["count"] == 0
    assert beta.get("/assistants/").json_body["count"] == 0
    missing = beta.get("/providers/999999/")
    for path in (
        f"/providers/{ollama_a.pk}/",
        f"/models/{deployment.pk}/",
        f"/assistants/{assistant.pk}/",
    ):
        for response in (beta.get(path), beta.patch(path, {"name": "pwned"}), beta.delete(path)):
            if response.status_code == 405:  # models have no PATCH
                continue
            assert response.status_code == 404, (path, response.status_code)
            assert response.json_body["error"]["code"].endswith("not_found")
    assert missing.status_code == 404
    assert missing.json_body["error"]["code"] == "provider_not_found"
    created = beta.post("/models/", {"provider": ollama_a.pk, "model_name": "y"})
    assert created.status_code == 400  # alpha's provider id is not a provider in beta
    with tenant_context(tenant_a):
        assert Provider.objects.get(pk=ollama_a.pk).name == "gpu-1"
        assert ModelDeployment.objects.filter(pk=deployment.pk).exists()
        assert Assistant.objects.filter(name="Alpha bot").exists()


# --- Schema and docs ------------------------------------------------------------------------------


def test_openapi_schema_documents_the_api_and_keeps_the_key_write_only(db):
    response = Client(HTTP_HOST="localhost").get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/providers/", "/api/v1/providers/{id}/", "/api/v1/models/",
            "/api/v1/assistants/{id}/"} <= set(schema["paths"])  # fmt: skip
    components = schema["components"]["schemas"]
    assert "api_key" not in components["Provider"]["properties"]
    assert components["ProviderCreateRequest"]["properties"]["api_key"]["writeOnly"] is True
    assert schema["components"]["securitySchemes"]["tenantApiKey"]["scheme"] == "bearer"


def test_swagger_ui_is_served_from_our_own_static_files(db):
    response = Client(HTTP_HOST="localhost").get("/api/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    asset = Client(HTTP_HOST="localhost").get(
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )
    assert asset.status_code == 200
