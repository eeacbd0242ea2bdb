"""Adding providers and models: encrypted keys, validation, and the add_model command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.core.errors import Conflict, InvalidInput
from apps.llm import services
from apps.llm.models import Assistant, ModelDeployment, Provider


def test_provider_key_is_encrypted_and_only_last4_kept_in_clear(in_tenant_a):
    provider = services.provider_create(
        name="openai", kind="openai", api_key="sk-live-abcdef123456"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM llm_provider WHERE id = %s", [provider.pk])
        stored = cursor.fetchone()[0]
    assert "abcdef123456" not in stored
    assert provider.api_key_last4 == "3456"
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-live-abcdef123456"


def test_provider_update_keeps_or_replaces_the_key(in_tenant_a):
    provider = services.provider_create(name="oa", kind="openai", api_key="sk-old-1111111111")
    services.provider_update(provider=provider, timeout_seconds=30)
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-old-1111111111"
    services.provider_update(provider=provider, api_key="sk-new-2222222222")
    assert Provider.objects.get(pk=provider.pk).api_key_last4 == "2222"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "skynet"}, "invalid_provider"),
        ({"kind": "openai", "api_key": ""}, "api_key_required"),
        ({"kind": "openai_compatible"}, "api_base_required"),
    ],
)
def test_provider_validation(in_tenant_a, kwargs, code):
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_create(name="x", **kwargs)
    assert excinfo.value.code == code


def test_ollama_defaults_to_localhost_and_local_models_run_first(in_tenant_a):
    ollama = services.provider_create(name="gpu", kind="ollama")
    cloud = services.provider_create(name="cloud", kind="anthropic", api_key="sk-ant-123456789")
    local = services.deployment_create(provider=ollama, model_name="llama3.1:8b", alias="chat")
    remote = services.deployment_create(
        provider=cloud, model_name="claude-3-5-haiku-latest", alias="chat"
    )
    assert ollama.api_base == "http://127.0.0.1:11434"
    assert local.priority < remote.priority
    with pytest.raises(Conflict):
        services.deployment_create(provider=ollama, model_name="llama3.1:8b", alias="chat")


def test_ollama_default_address_comes_from_the_setting(in_tenant_a, settings):
    settings.OLLAMA_BASE_URL = "http://ollama:11434"  # docker compose's service name
    assert services.provider_create(name="gpu", kind="ollama").api_base == "http://ollama:11434"


def test_assistant_refuses_unknown_models(in_tenant_a):
    with pytest.raises(InvalidInput) as excinfo:
        services.assistant_create(name="Helper", default_model="gpt-9")
    assert excinfo.value.code == "unknown_model"


def test_only_one_default_assistant(in_tenant_a):
    first = services.assistant_create(name="One")
    second = services.assistant_create(name="Two", is_default=True)
    assert Assistant.objects.get(pk=second.pk).is_default
    assert not Assistant.objects.get(pk=first.pk).is_default


def test_add_model_command_reads_the_key_from_the_environment(tenant_a, monkeypatch):
    from django_tenants.utils import tenant_context

    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-from-env-987654321")
    out = StringIO()
    call_command(
        "add_model", "--tenant", "alpha", "--provider", "openai", "--model", "gpt-4o-mini",
        "--api-key-env", "TEST_OPENAI_KEY", "--default", stdout=out,
    )  # fmt: skip
    call_command(
        "add_model",
        "--tenant",
        "alpha",
        "--provider",
        "ollama",
        "--model",
        "llama3.2:3b",
        stdout=out,
    )
    assert "987654321" not in out.getvalue()
    assert "…4321" in out.getvalue()
    with tenant_context(tenant_a):
        assert Provider.objects.get(kind="openai").api_key == "sk-from-env-987654321"
        assert Assistant.objects.get(is_default=True).default_model == "gpt-4o-mini"
        assert (
            ModelDeployment.objects.get(model_name="llama3.2:3b").provider.api_base
            == "http://127.0.0.1:11434"
        )


def test_add_model_command_refuses_a_missing_env_key(tenant_a, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "add_model",
            "--tenant",
            "alpha",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--api-key-env",
            "NOPE_KEY",
        )
    assert excinfo.value.returncode == 2


@pytest.mark.parametrize(
    "base", ["http://ollama:11434", "http://gpu-1:8000/v1", "https://llm.internal.example"]
)
def test_single_label_and_lan_hosts_are_valid_base_urls(in_tenant_a, base):
    provider = services.provider_create(
        name=f"p-{base[-5:]}", kind="openai_compatible", api_base=base
    )
    assert provider.api_base == base.rstrip("/")


@pytest.mark.parametrize("base", ["ollama:11434", "ftp://x", "http://", "http://host:99999"])
def test_bad_base_urls_are_refused(in_tenant_a, base):
    from django.core.exceptions import ValidationError

    with pytest.raises((ValidationError, InvalidInput)):
        services.provider_create(name="bad", kind="openai_compatible", api_base=base)


@pytest.mark.parametrize(
    "base",
    [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://[::ffff:169.254.169.254]:80",
        "http://100.100.100.200",
    ],
)
def test_metadata_endpoints_are_never_a_provider(in_tenant_a, base):
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_create(name="meta", kind="openai_compatible", api_base=base)
    assert excinfo.value.code == "api_base_not_allowed"
    assert not Provider.objects.filter(name="meta").exists()


def test_loopback_stays_allowed_for_a_local_gpu(in_tenant_a):
    provider = services.provider_create(
        name="local", kind="ollama", api_base="http://127.0.0.1:11434"
    )
    assert provider.api_base == "http://127.0.0.1:11434"
