"""Shared fixtures: two real tenants (alpha, beta) in the real test database.

The tenants are created once per session and committed, so that out-of-process code (a Celery
worker, a daphne server for browser tests) sees them. Each test still runs in a transaction
that is rolled back, and always starts and ends on the public schema.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from apps.tenants.models import Tenant
from apps.tenants.services import TenantCreated, tenant_create

PASSWORD = "correct-horse-battery"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread from its first use on, which async tests after it could not share."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


def _create(slug: str) -> TenantCreated:
    return tenant_create(
        slug=slug,
        name=f"{slug.title()} Corp",
        domain=f"{slug}.localhost",
        owner_email=f"owner@{slug}.test",
        owner_password=PASSWORD,
        allowed_origins=[f"https://www.{slug}.test"],
    )


@pytest.fixture(scope="session")
def django_db_setup(
    request, django_test_environment, django_db_blocker, django_db_modify_db_settings
) -> Iterator[dict[str, TenantCreated]]:
    """Always create the test database, even when no collected test asks for ``db``.

    pytest-django only sets up databases that collected tests mark as needed; tests that run
    code in other threads use committed data instead of ``db``, and must never reach the
    development database.
    """
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=verbosity, interactive=False, aliases={"default"})
        assert connection.settings_dict["NAME"].startswith("test_"), "not a test database"
        created = {"alpha": _create("alpha"), "beta": _create("beta")}
        connection.set_schema_to_public()
    yield created
    with django_db_blocker.unblock():
        # Database threads of async code may still hold connections: end them first.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        teardown_databases(db_cfg, verbosity=verbosity)


@pytest.fixture(autouse=True)
def _public_schema_around_each_test() -> Iterator[None]:
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture
def tenant_a(db) -> Tenant:
    return Tenant.objects.get(slug="alpha")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return Tenant.objects.get(slug="beta")


@pytest.fixture
def seeded(db, django_db_setup) -> dict[str, TenantCreated]:
    """What session setup created (owners, embed keys), by tenant slug."""
    return django_db_setup


@pytest.fixture
def in_tenant_a(tenant_a) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        yield tenant_a


# --- LLM engine: a real loopback provider and a tenant configured to use it -------------------


@pytest.fixture(scope="session")
def fake_llm():
    """A real HTTP server speaking the OpenAI and Ollama protocols (tests/fakes/llm_server.py)."""
    from tests.fakes.llm_server import FakeLLMServer

    server = FakeLLMServer().start()
    yield server
    server.stop()


ENGINE_MODELS = {
    # alias: (provider name, model name at the fake server)
    "chat": ("fake-vllm", "echo"),
    "local": ("fake-ollama", "echo"),
    "slow": ("fake-vllm", "slow-300"),
    "ratelimit-once": ("fake-vllm", "ratelimit-once"),
    "ratelimit": ("fake-vllm", "ratelimit"),
    "unauthorized": ("fake-vllm", "unauthorized"),
    "disconnect": ("fake-vllm", "disconnect"),
    "hang": ("fake-hanging", "hang"),
    "toolcaller": ("fake-vllm", "toolcaller"),
    "too-long": ("fake-vllm", "too-long"),
    "down": ("fake-down", "echo"),
    "clock": ("fake-vllm", "clock-20-40"),  # 20 timestamped tokens, 40 ms apart
}


@pytest.fixture(scope="session")
def engine_tenant(django_db_setup, django_db_blocker, fake_llm) -> Tenant:
    """A committed tenant whose providers point at the fake server (one alias per behaviour).

    Committed (not rolled back) because the engine runs its database calls in other threads.
    """
    from apps.llm import services as llm

    with django_db_blocker.unblock():
        created = tenant_create(
            slug="engine",
            name="Engine Test",
            domain="engine.localhost",
            owner_email="owner@engine.test",
            owner_password=PASSWORD,
        )
        with tenant_context(created.tenant):
            providers = {
                "fake-vllm": llm.provider_create(
                    name="fake-vllm", kind="openai_compatible", api_base=f"{fake_llm.base_url}/v1"
                ),
                "fake-ollama": llm.provider_create(
                    name="fake-ollama", kind="ollama", api_base=fake_llm.base_url
                ),
                "fake-hanging": llm.provider_create(
                    name="fake-hanging",
                    kind="openai_compatible",
                    api_base=f"{fake_llm.base_url}/v1",
                    timeout_seconds=1,
                ),
                # Nothing listens on port 9 (discard): connection refused.
                "fake-down": llm.provider_create(
                    name="fake-down", kind="ollama", api_base="http://127.0.0.1:9"
                ),
            }
            for alias, (provider, model) in ENGINE_MODELS.items():
                llm.deployment_create(
                    provider=providers[provider], model_name=model, alias=alias, priority=0
                )
            llm.assistant_create(name="Default", default_model="chat", is_default=True)
        connection.set_schema_to_public()
    return created.tenant


@pytest.fixture
def committed(django_db_blocker):
    """Let a test write committed rows (for code that runs in other threads)."""
    with django_db_blocker.unblock():
        yield


# --- A real server process (daphne) on the test database ------------------------------------

BASE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_process_env() -> dict[str, str]:
    """Environment for a process the tests start (daphne, a Celery worker): the test database
    pytest created and this run's Redis prefix, so it shares data, cache and broker with us."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_SERVER_DATABASE_NAME": connection.settings_dict["NAME"],
        "TEST_RUN_PREFIX": settings.TEST_RUN_PREFIX,
    }


@contextlib.contextmanager
def daphne_server(**extra_env: str) -> Iterator[int]:
    """daphne serving config.asgi on the test database (committed data only); yields its port."""
    port = free_port()
    env = {**server_process_env(), **extra_env}
    (BASE_DIR / "var").mkdir(exist_ok=True)
    log = open(BASE_DIR / "var" / f"e2e-daphne-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"daphne did not start; see {log.name}")
            time.sleep(0.2)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def server_port(django_db_setup, django_db_blocker) -> Iterator[int]:
    """daphne serving config.asgi on the test database (committed session data only)."""
    with daphne_server() as port:
        yield port
