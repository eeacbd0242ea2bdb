""" "Test this model": an async view that streams a reply from one alias as NDJSON.

The view runs its database calls in other threads, so these tests use the committed engine
tenant (its models point at the loopback fake provider) and committed members. Each test drives
Django's AsyncClient on an event loop of its own thread: the browser tests keep a loop running
in the main thread for the whole session, and these tests must not depend on running first.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import AsyncClient

from apps.accounts.models import User
from apps.tenants.models import Role, Tenant
from apps.tenants.services import membership_set

HOST = "engine.localhost"


def run(coroutine):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


@pytest.fixture
def engine_people(engine_tenant, committed) -> dict[str, User]:
    people = {"owner": User.objects.get(email="owner@engine.test")}
    for role in (Role.ADMIN, Role.AGENT, Role.VIEWER):
        email = f"{role}@engine-model-test.test"
        person = User.objects.filter(email=email).first() or User.objects.create_user(email)
        membership_set(tenant=engine_tenant, user=person, role=role)
        people[str(role)] = person
    people["outsider"] = User.objects.get(email="owner@beta.test")
    return people


class TenantAsyncClient(AsyncClient):
    """An AsyncClient for a tenant host (Django's always sends ``Host: testserver`` first)."""

    def request(self, **request):
        headers = [(k, v) for k, v in request.get("headers", []) if k != b"host"]
        request["headers"] = [(b"host", HOST.encode()), *headers]
        return super().request(**request)


async def client_for(person: User, **kwargs) -> AsyncClient:
    client = TenantAsyncClient(**kwargs)
    await client.aforce_login(person)
    return client


async def events_of(response) -> list[dict]:
    body = b"".join([chunk async for chunk in response.streaming_content])
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_streams_a_reply_from_the_alias(engine_people, role):
    async def scenario():
        client = await client_for(engine_people[role])
        response = await client.post("/llm/models/test/", {"alias": "chat", "prompt": "ping?"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-ndjson"
        events = await events_of(response)
        assert events[0] == {"type": "start", "provider": "fake-vllm", "model": "echo"}
        text = "".join(event["text"] for event in events if event["type"] == "delta")
        assert text == "Hello from the fake model. You asked: ping?"
        assert len([e for e in events if e["type"] == "delta"]) > 1  # streamed, not in one piece
        assert events[-1]["type"] == "done" and events[-1]["ttft_ms"] is not None

    run(scenario())


def test_local_ollama_alias_streams_too(engine_people):
    async def scenario():
        client = await client_for(engine_people["owner"])
        events = await events_of(await client.post("/llm/models/test/", {"alias": "local"}))
        assert events[0]["provider"] == "fake-ollama"
        assert "Hello from the fake model" in "".join(e.get("text", "") for e in events)

    run(scenario())


def test_unreachable_provider_is_reported_with_a_hint(engine_people):
    async def scenario():
        client = await client_for(engine_people["owner"])
        events = await events_of(await client.post("/llm/models/test/", {"alias": "down"}))
        assert events[0]["type"] == "error"
        assert events[0]["code"] == "provider_unreachable"
        assert "Check the base URL" in events[0]["message"]
        assert events[-1]["type"] == "failed"

    run(scenario())


def test_unknown_alias_is_a_404_with_the_error_shape(engine_people):
    async def scenario():
        client = await client_for(engine_people["owner"])
        response = await client.post("/llm/models/test/", {"alias": "no-such-model"})
        assert response.status_code == 404
        assert json.loads(response.content)["error"]["code"] == "model_not_found"

    run(scenario())


@pytest.mark.parametrize("role", ["viewer", "agent", "outsider"])
def test_only_admins_may_spend_tokens(engine_people, role):
    async def scenario():
        client = await client_for(engine_people[role])
        response = await client.post("/llm/models/test/", {"alias": "chat"})
        assert response.status_code == 404

    run(scenario())


def test_anonymous_is_sent_to_login_and_get_is_refused(engine_tenant: Tenant, committed):
    async def scenario():
        anonymous = TenantAsyncClient()
        response = await anonymous.post("/llm/models/test/", {"alias": "chat"})
        assert response.status_code == 302 and "/login/" in response["Location"]
        response = await anonymous.get("/llm/models/test/")
        assert response.status_code == 302 and "/login/" in response["Location"]

    run(scenario())


def test_get_is_answered_405_to_an_admin(engine_people):
    async def scenario():
        owner = await client_for(engine_people["owner"])
        assert (await owner.get("/llm/models/test/")).status_code == 405

    run(scenario())


def test_csrf_is_required(engine_people):
    async def scenario():
        client = await client_for(engine_people["owner"], enforce_csrf_checks=True)
        assert (await client.post("/llm/models/test/", {"alias": "chat"})).status_code == 403

    run(scenario())
