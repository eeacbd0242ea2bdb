"""The OpenAI-compatible API, exercised with the official `openai` Python client.

The server is a real daphne process on the test database; the model behind it is the loopback
fake provider, so the whole path (HTTP, auth, engine, LiteLLM, streaming) is real.
"""

from __future__ import annotations

import openai
import pytest
from django_tenants.utils import tenant_context

from apps.accounts.services import api_key_create
from apps.conversations.models import Conversation

pytestmark = pytest.mark.usefixtures("committed")


@pytest.fixture(scope="module")
def api_key(engine_tenant, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return api_key_create(tenant=engine_tenant, name="openai-client test").plaintext


@pytest.fixture
def client(server_port, api_key) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key, base_url=f"http://127.0.0.1:{server_port}/v1", max_retries=0
    )


def test_lists_model_aliases_and_assistants(client):
    ids = {model.id for model in client.models.list()}
    assert {"chat", "local", "assistant:Default"} <= ids


def test_non_streaming_completion(client):
    completion = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Ping?"}]
    )
    assert completion.choices[0].message.content == "Hello from the fake model. You asked: Ping?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens > 0


def test_streaming_completion_with_usage(client):
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake model. You asked: Stream please"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]


def test_assistant_model_applies_its_system_prompt(client, fake_llm):
    fake_llm.requests.clear()
    client.chat.completions.create(
        model="assistant:Default", messages=[{"role": "user", "content": "Who are you?"}]
    )
    sent = fake_llm.requests[-1]["body"]["messages"]
    assert sent[0]["role"] == "system"
    assert "helpful assistant" in sent[0]["content"]


def test_tools_pass_through_to_the_client(client, fake_llm):
    fake_llm.tool_arguments = {"city": "Paris"}
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="toolcaller", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    second = client.chat.completions.create(model="toolcaller", messages=messages, tools=tools)
    assert second.choices[0].message.content == "The tool said: 18C and sunny"


def test_streamed_tool_calls(client, fake_llm):
    fake_llm.tool_arguments = {"q": "x"}
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    chunks = list(
        client.chat.completions.create(
            model="toolcaller",
            messages=[{"role": "user", "content": "go"}],
            tools=tools,
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "search"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_conversations_are_stored_unless_the_request_says_not_to(client, engine_tenant):
    client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "store me 41"}]
    )
    client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "forget me 42"}],
        extra_body={"store": False},
    )
    with tenant_context(engine_tenant):
        stored = Conversation.objects.filter(channel="api", messages__content="store me 41")
        forgotten = Conversation.objects.filter(messages__content="forget me 42")
        assert stored.count() == 1
        assert not forgotten.exists()
        assert stored.get().messages.filter(role="assistant", status="complete").count() == 1


def test_bad_key_unknown_model_and_bad_input_are_openai_errors(client, server_port):
    bad = openai.OpenAI(
        api_key="sk_nope_nope", base_url=f"http://127.0.0.1:{server_port}/v1", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError) as excinfo:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert excinfo.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat", messages=[])


def test_a_key_without_the_chat_scope_is_forbidden(server_port, engine_tenant):
    read_only = api_key_create(tenant=engine_tenant, name="reader", scopes=["read"]).plaintext
    reader = openai.OpenAI(
        api_key=read_only, base_url=f"http://127.0.0.1:{server_port}/v1", max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError) as excinfo:
        reader.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.code == "permission_denied"
    with pytest.raises(openai.PermissionDeniedError):
        reader.models.list()


def test_a_key_only_sees_its_own_tenant(server_port, engine_tenant):
    from apps.tenants.models import Tenant

    alpha_key = api_key_create(
        tenant=Tenant.objects.get(slug="alpha"), name="alpha client"
    ).plaintext
    alpha = openai.OpenAI(
        api_key=alpha_key, base_url=f"http://127.0.0.1:{server_port}/v1", max_retries=0
    )
    assert {m.id for m in alpha.models.list()} == set()  # alpha configured no model
    with pytest.raises(openai.NotFoundError):
        alpha.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])


GOOD = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "invalid_messages",
        ),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "invalid_messages"),
        ({"messages": [{"role": "user", "content": 42}]}, "invalid_messages"),
        ({"temperature": "hot"}, "invalid_temperature"),
        ({"temperature": -3}, "invalid_temperature"),
        ({"top_p": [1]}, "invalid_top_p"),
        ({"max_tokens": -5}, "invalid_max_tokens"),
        ({"max_tokens": 1e308}, "invalid_max_tokens"),
        ({"n": 3}, "unsupported_n"),
        ({"stop": {"a": 1}}, "invalid_stop"),
        ({"seed": "x"}, "invalid_seed"),
        ({"tool_choice": "bogus"}, "invalid_tool_choice"),
        ({"tools": [1]}, "invalid_tools"),
        ({"tools": [{"type": "function"}]}, "invalid_tools"),
        ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "invalid_tools"),
        ({"stream": "yes"}, "invalid_stream"),
        ({"store": "no"}, "invalid_store"),
        ({"stream": True, "stream_options": "x"}, "invalid_stream_options"),
    ],
)
def test_bad_fields_are_refused_before_a_turn_begins(
    server_port, api_key, engine_tenant, change, code
):
    import httpx

    with tenant_context(engine_tenant):
        before = Conversation.objects.count()
    response = httpx.post(
        f"http://127.0.0.1:{server_port}/v1/chat/completions",
        json={**GOOD, **change},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    with tenant_context(engine_tenant):
        assert Conversation.objects.count() == before  # nothing stored


def test_nul_characters_are_dropped_from_the_stored_question(client, engine_tenant):
    completion = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "null\x00byte"}]
    )
    assert completion.choices[0].finish_reason == "stop"
    with tenant_context(engine_tenant):
        from apps.conversations.models import Message

        assert Message.objects.filter(content="nullbyte", role="user").exists()


def test_a_body_over_djangos_own_limit_is_a_coded_413(server_port, api_key):
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{server_port}/v1/chat/completions",
        content=b'{"model": "chat", "messages": [], "pad": "' + b"x" * 3_000_000 + b'"}',
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
