"""Managing an Ollama server's models against the loopback fake server: list, pull with
progress, pull errors, delete, and a clear message when the server cannot be reached."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django_tenants.utils import tenant_context

from apps.core.errors import InvalidInput, NotFound
from apps.llm import ollama, services
from apps.llm.models import Provider
from config.celery import app

UNREACHABLE = "http://127.0.0.1:9"  # discard port: connection refused


@pytest.fixture
def server(in_tenant_a, fake_llm) -> Provider:
    return services.provider_create(name="gpu-1", kind="ollama", api_base=fake_llm.base_url)


@pytest.fixture
def down(in_tenant_a) -> Provider:
    return services.provider_create(name="down", kind="ollama", api_base=UNREACHABLE)


@pytest.fixture
def admin(seeded) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(seeded["alpha"].owner)
    return client


def test_lists_installed_models_with_size_and_details(server):
    [model] = [m for m in ollama.ollama_models(provider=server) if m.name == "llama3.2:3b"]
    assert model.size_label == "2.02 GB"
    assert model.parameter_size == "3.2B"
    assert model.quantization == "Q4_K_M"


def test_unreachable_server_is_a_clear_coded_error(down):
    with pytest.raises(ollama.OllamaUnreachable) as excinfo:
        ollama.ollama_models(provider=down)
    assert excinfo.value.code == "ollama_unreachable"
    assert f"Cannot reach the Ollama server at {UNREACHABLE}" in excinfo.value.message


def test_a_server_that_is_not_ollama_is_named_as_such(in_tenant_a, fake_llm):
    wrong = services.provider_create(
        name="wrong", kind="ollama", api_base=f"{fake_llm.base_url}/nothing-here"
    )
    with pytest.raises(ollama.OllamaUnreachable) as excinfo:
        ollama.ollama_models(provider=wrong)
    assert "HTTP 404" in excinfo.value.message


def test_only_ollama_providers_have_models_to_manage(in_tenant_a):
    cloud = services.provider_create(name="oa", kind="openai", api_key="sk-123456789")
    with pytest.raises(InvalidInput):
        ollama.ollama_models(provider=cloud)


def test_pull_reports_progress_up_to_100_percent(server, fake_llm, monkeypatch):
    seen: list[tuple[str, int]] = []
    save = ollama._save

    def spy(provider_id, progress):
        seen.append((progress.status, progress.percent))
        save(provider_id, progress)

    monkeypatch.setattr(ollama, "_save", spy)
    monkeypatch.setattr(ollama, "PULL_WRITE_INTERVAL_SECONDS", 0)
    try:
        result = ollama.ollama_pull_run(provider_id=server.pk, model="tiny:1b")
        assert result.status == "success" and result.percent == 100
        percents = [percent for status, percent in seen if status == "running"]
        assert percents == sorted(percents) and 0 < max(percents) < 100  # it moved, in order
        stored = ollama.pull_progress_get(provider_id=server.pk, model="tiny:1b")
        assert stored.status == "success" and stored.percent == 100
        assert "tiny:1b" in {m.name for m in ollama.ollama_models(provider=server)}
    finally:
        fake_llm.ollama_models.pop("tiny:1b", None)


def test_pull_of_an_unknown_model_fails_with_ollamas_reason(server):
    result = ollama.ollama_pull_run(provider_id=server.pk, model="does-not-exist")
    assert result.status == "error"
    assert "file does not exist" in result.message


def test_pull_from_an_unreachable_server_fails_cleanly(down):
    result = ollama.ollama_pull_run(provider_id=down.pk, model="tiny:1b")
    assert result.status == "error"
    assert "Cannot reach the Ollama server" in result.message


def test_pull_start_queues_the_task_once_the_transaction_commits(
    server, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: sent.append((name, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        progress = ollama.ollama_pull_start(provider=server, model="tiny:1b")
        assert sent == []
    assert progress.status == "queued"
    assert sent == [
        ("llm.ollama_pull", {"args": [server.pk, "tiny:1b"], "headers": {"_schema_name": "alpha"}})
    ]
    with pytest.raises(Exception, match="already being pulled"):
        ollama.ollama_pull_start(provider=server, model="tiny:1b")
    with pytest.raises(InvalidInput):
        ollama.ollama_pull_start(provider=server, model="; rm -rf /")


def test_pull_progress_is_per_tenant(server, tenant_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        ollama.ollama_pull_start(provider=server, model="tiny:1b")
    assert [p.model for p in ollama.pulls_for(provider_id=server.pk)] == ["tiny:1b"]
    with tenant_context(tenant_b):
        assert ollama.pulls_for(provider_id=server.pk) == []
        assert ollama.pull_progress_get(provider_id=server.pk, model="tiny:1b") is None


def test_delete_removes_the_model_and_a_missing_one_is_not_found(server, fake_llm):
    fake_llm.ollama_models["old:1b"] = {"size": 10, "details": {}}
    ollama.ollama_delete(provider=server, model="old:1b")
    assert "old:1b" not in fake_llm.ollama_models
    with pytest.raises(NotFound) as excinfo:
        ollama.ollama_delete(provider=server, model="old:1b")
    assert excinfo.value.code == "model_not_installed"


# --- Through the pages --------------------------------------------------------------------------


def test_panel_shows_installed_models_and_the_pull_form(admin, server):
    body = admin.get(f"/llm/providers/{server.pk}/ollama/", HTTP_HX_REQUEST="true")
    html = body.content.decode()
    assert "llama3.2:3b" in html and "2.02 GB" in html and "3.2B" in html and "Q4_K_M" in html
    assert "Pull a model" in html


def test_panel_explains_an_unreachable_server(admin, down):
    response = admin.get(f"/llm/providers/{down.pk}/ollama/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Cannot reach the Ollama server at http://127.0.0.1:9" in html
    assert "Try again" in html and "Traceback" not in html


def test_pull_through_the_page_polls_until_installed(
    admin, server, fake_llm, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(app, "send_task", lambda *a, **kw: None)
    url = f"/llm/providers/{server.pk}/ollama/"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        started = admin.post(f"{url}pull/", {"model": "tiny:1b"}, HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1
    html = started.content.decode()
    assert "tiny:1b" in html and "Queued" in html and 'hx-trigger="every 1s"' in html
    revisited = admin.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Queued" in revisited and 'hx-trigger="every 1s"' in revisited  # back on the page
    try:
        ollama.ollama_pull_run(provider_id=server.pk, model="tiny:1b")
        done = admin.get(f"{url}pulls/", HTTP_HX_REQUEST="true")
        assert "Installed" in done.content.decode()
        assert "every 1s" not in done.content.decode()  # polling stops
        assert done["HX-Trigger"] == "ollama-changed"  # the installed list refreshes
        again = admin.get(f"{url}pulls/", HTTP_HX_REQUEST="true").content.decode()
        assert "tiny:1b" not in again  # a finished pull is shown once
        assert "tiny:1b" in admin.get(f"{url}installed/").content.decode()
    finally:
        fake_llm.ollama_models.pop("tiny:1b", None)


def test_pull_form_errors_are_shown_in_place(admin, server):
    response = admin.post(
        f"/llm/providers/{server.pk}/ollama/pull/", {"model": "../../etc"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Enter a model name from the Ollama library" in response.content.decode()


def test_delete_through_the_page(admin, server, fake_llm):
    fake_llm.ollama_models["old:1b"] = {"size": 10, "details": {}}
    response = admin.post(
        f"/llm/providers/{server.pk}/ollama/delete/", {"model": "old:1b"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "old:1b was deleted" in html and "llama3.2:3b" in html
    missing = admin.post(
        f"/llm/providers/{server.pk}/ollama/delete/", {"model": "old:1b"}, HTTP_HX_REQUEST="true"
    )
    assert "is not installed" in missing.content.decode()


def test_use_an_installed_model(admin, server):
    response = admin.post(
        "/llm/models/add/",
        {
            "provider": server.pk,
            "model_name": "llama3.2:3b",
            "alias": "llama3.2:3b",
            "next": f"/llm/providers/{server.pk}/",
        },
    )
    assert response["Location"] == f"/llm/providers/{server.pk}/"
    html = admin.get(f"/llm/providers/{server.pk}/ollama/installed/").content.decode()
    assert "In use" in html


def test_ollama_fragments_refuse_other_providers(admin, in_tenant_a):
    cloud = services.provider_create(name="oa", kind="openai", api_key="sk-123456789")
    assert admin.get(f"/llm/providers/{cloud.pk}/ollama/").status_code == 404


# --- The Celery task, in a real worker --------------------------------------------------------


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker):
    app.conf.task_always_eager = False
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker,
    ):
        yield worker


def test_worker_pulls_for_the_sending_tenant(celery_worker, engine_tenant, committed, fake_llm):
    with tenant_context(engine_tenant):
        server = Provider.objects.get(name="fake-ollama")
        ollama.ollama_pull_start(provider=server, model="worker:1b")  # autocommit: sent now
    try:
        deadline = time.monotonic() + 30
        while True:
            with tenant_context(engine_tenant):
                progress = ollama.pull_progress_get(provider_id=server.pk, model="worker:1b")
            if progress.status in ("success", "error") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert progress.status == "success" and progress.percent == 100
        assert "worker:1b" in fake_llm.ollama_models
    finally:
        fake_llm.ollama_models.pop("worker:1b", None)
        with tenant_context(engine_tenant):
            ollama.pulls_forget_finished(provider_id=server.pk)


@pytest.mark.parametrize(
    "base",
    ["http://169.254.169.254", "http://[fd00:ec2::254]:80", "http://metadata.google.internal"],
)
def test_cloud_metadata_addresses_are_never_contacted(in_tenant_a, base):
    provider = Provider.objects.create(name="meta", kind="ollama", api_base=base)
    with pytest.raises(InvalidInput) as excinfo:
        ollama.ollama_models(provider=provider)
    assert excinfo.value.code == "metadata_refused"
