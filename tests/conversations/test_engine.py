"""The turn engine against a real loopback provider through LiteLLM's real code path."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context

from apps.conversations.engine import TurnRunner
from apps.conversations.models import Conversation, Message, MessageStatus
from apps.conversations.services import conversation_create
from apps.llm import services as llm
from apps.llm.models import Assistant

pytestmark = pytest.mark.usefixtures("committed")


def make_conversation(tenant, **assistant_settings) -> Conversation:
    with tenant_context(tenant):
        assistant = llm.assistant_create(name=f"a-{uuid.uuid4().hex[:8]}", **assistant_settings)
        return conversation_create(channel="cli", assistant=assistant)


def run(tenant, conversation, text="What are your opening hours?", **kwargs):
    runner = TurnRunner(tenant=tenant, conversation_id=conversation.pk, text=text, **kwargs)

    async def collect():
        return [event async for event in runner.events()]

    events = async_to_sync(collect)()
    with tenant_context(tenant):
        reply = Message.objects.get(pk=events[0].data["reply_id"])
        user = Message.objects.get(pk=events[0].data["message_id"])
    return events, reply, user, runner


def text_of(events) -> str:
    return "".join(e.data["text"] for e in events if e.type == "delta")


def test_streams_and_persists_a_complete_answer(engine_tenant):
    conversation = make_conversation(engine_tenant, default_model="chat")
    events, reply, user, _ = run(engine_tenant, conversation)

    assert next(e.type for e in events) == "accepted"
    assert events[-1].type == "done" and events[-1].data["status"] == "complete"
    assert text_of(events) == "Hello from the fake model. You asked: What are your opening hours?"
    assert reply.content == text_of(events)
    assert reply.status == MessageStatus.COMPLETE
    assert user.content == "What are your opening hours?"
    assert reply.model == "echo" and reply.provider == "fake-vllm"
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert reply.ttft_ms is not None and reply.latency_ms >= reply.ttft_ms
    assert reply.cost_usd == 0  # local models cost nothing
    assert reply.completed_at is not None and reply.tool_calls == [] and reply.sources == []
    with tenant_context(engine_tenant):
        conversation.refresh_from_db()
    assert conversation.last_message_at == reply.completed_at


def test_sequence_numbers_count_every_streamed_frame(engine_tenant):
    events, reply, _, _ = run(engine_tenant, make_conversation(engine_tenant, default_model="chat"))
    seqs = [e.seq for e in events[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert reply.seq == seqs[-2]  # content includes every frame before "done"


def test_ollama_streaming_protocol(engine_tenant):
    import litellm

    _events, reply, _, _ = run(
        engine_tenant, make_conversation(engine_tenant, default_model="local")
    )
    assert reply.status == MessageStatus.COMPLETE
    assert reply.provider == "fake-ollama"
    assert "You asked" in reply.content
    assert reply.cost_usd == 0
    # The router registers Ollama models in LiteLLM's map, free: unregistered, LiteLLM's ~36
    # model-info lookups per turn each rebuilt its whole model list (26 ms of CPU a turn).
    registered = litellm.model_cost["echo"]
    assert registered["litellm_provider"] == "ollama_chat"
    assert (registered["input_cost_per_token"], registered["output_cost_per_token"]) == (0, 0)


def test_a_local_model_named_like_a_cloud_model_keeps_the_cloud_price(engine_tenant, monkeypatch):
    import litellm

    from apps.llm.router import _register_local_model

    registered = []
    monkeypatch.setattr(litellm, "register_model", registered.append)
    price = dict(litellm.model_cost["gpt-4o"])
    with tenant_context(engine_tenant):
        ollama = llm.Provider.objects.get(name="fake-ollama")
        deployment = llm.deployment_create(provider=ollama, model_name="gpt-4o", alias="copycat")
    _register_local_model(deployment)
    assert litellm.model_cost["gpt-4o"] == price
    assert price["input_cost_per_token"] > 0
    assert registered == []  # a name LiteLLM already knows is not registered again


def test_openai_compatible_models_are_registered_free_under_their_route(engine_tenant):
    import litellm

    from apps.llm.router import _register_local_model

    run(engine_tenant, make_conversation(engine_tenant, default_model="chat"))
    registered = litellm.model_cost["hosted_vllm/echo"]  # the fake vLLM server's model
    assert (registered["input_cost_per_token"], registered["output_cost_per_token"]) == (0, 0)
    # A vLLM server serving a model named like a cloud model: its own key, free; the cloud
    # model's price is untouched.
    price = dict(litellm.model_cost["gpt-4o"])
    with tenant_context(engine_tenant):
        vllm = llm.Provider.objects.get(name="fake-vllm")
        deployment = llm.deployment_create(provider=vllm, model_name="gpt-4o", alias="own-4o")
    _register_local_model(deployment)
    assert litellm.model_cost["hosted_vllm/gpt-4o"]["output_cost_per_token"] == 0
    assert litellm.model_cost["gpt-4o"] == price


def test_history_is_sent_and_trimmed_to_the_budget(engine_tenant, fake_llm):
    conversation = make_conversation(engine_tenant, default_model="chat", history_budget_tokens=60)
    run(engine_tenant, conversation, text="first question " + "x" * 400)
    run(engine_tenant, conversation, text="second question")
    fake_llm.requests.clear()
    run(engine_tenant, conversation, text="third question")
    sent = fake_llm.requests[-1]["body"]["messages"]
    contents = [m["content"] for m in sent]
    assert sent[0]["role"] == "system"
    assert contents[-1] == "third question"
    assert "second question" in contents
    assert not any("first question" in c for c in contents)  # over the budget


def test_system_prompt_and_sampling_settings_reach_the_model(engine_tenant, fake_llm):
    conversation = make_conversation(
        engine_tenant,
        default_model="chat",
        system_prompt="You are Acme's helper.",
        temperature=0.1,
        max_tokens=77,
    )
    fake_llm.requests.clear()
    run(engine_tenant, conversation)
    body = fake_llm.requests[-1]["body"]
    assert body["messages"][0]["content"].startswith("You are Acme's helper.")
    assert body["temperature"] == 0.1
    assert body["max_tokens"] == 77


def test_falls_back_to_the_next_model_when_the_first_is_down(engine_tenant):
    conversation = make_conversation(engine_tenant, default_model="down", fallback_models=["local"])
    _events, reply, _, _ = run(engine_tenant, conversation)
    assert reply.status == MessageStatus.COMPLETE
    assert reply.provider == "fake-ollama"
    assert "You asked" in reply.content


def test_no_model_reachable_still_completes_and_says_so(engine_tenant):
    conversation = make_conversation(engine_tenant, default_model="down")
    events, reply, _, _ = run(engine_tenant, conversation)
    assert reply.status == MessageStatus.COMPLETE
    assert reply.error_code == "provider_unreachable"
    assert "offline" in reply.content.lower()
    assert events[-1].data["notice"]


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("unauthorized", "provider_auth"),
        ("hang", "provider_timeout"),
        ("too-long", "context_too_long"),
        ("ratelimit", "provider_rate_limited"),
    ],
)
def test_provider_errors_become_one_clear_message_and_a_code(engine_tenant, alias, code):
    _events, reply, _, _ = run(engine_tenant, make_conversation(engine_tenant, default_model=alias))
    assert reply.error_code == code
    assert reply.status == MessageStatus.COMPLETE
    assert "Traceback" not in reply.content
    assert reply.content.strip()


def test_a_429_with_retry_after_is_retried(engine_tenant, fake_llm):
    before = fake_llm.attempts.get("ratelimit-once", 0)
    _events, reply, _, _ = run(
        engine_tenant, make_conversation(engine_tenant, default_model="ratelimit-once")
    )
    assert reply.status == MessageStatus.COMPLETE
    assert "You asked" in reply.content
    assert fake_llm.attempts["ratelimit-once"] == before + 2


def test_mid_stream_disconnect_leaves_an_incomplete_answer_the_next_turn_sees(
    engine_tenant, fake_llm
):
    conversation = make_conversation(engine_tenant, default_model="disconnect", fallback_models=[])
    _events, reply, _, _ = run(engine_tenant, conversation)
    assert reply.status == MessageStatus.INCOMPLETE
    assert reply.content == "Hello from the"  # the three tokens that arrived
    with tenant_context(engine_tenant):
        Assistant.objects.filter(pk=conversation.assistant_id).update(default_model="chat")
    llm_requests_before = len(fake_llm.requests)
    run(engine_tenant, conversation, text="Are you there?")
    sent = fake_llm.requests[llm_requests_before]["body"]["messages"]
    assert any("Hello from the" in m["content"] and "interrupted" in m["content"] for m in sent)


def test_streaming_answers_are_saved_while_they_stream_in_one_statement_per_tenant(
    engine_tenant, settings, monkeypatch
):
    """Checkpoints of every answer streaming in a process are batched: a crash loses at most
    the last interval, and many concurrent answers cost one UPDATE per interval, not one each."""
    import asyncio

    from apps.conversations import services
    from apps.core.tenancy import call_in_tenant

    settings.STREAM_CHECKPOINT_SECONDS = 0.15
    batches: list[int] = []
    real = services.reply_checkpoints

    def counting(*, items):
        batches.append(len(items))
        return real(items=items)

    monkeypatch.setattr(services, "reply_checkpoints", counting)
    conversations = [make_conversation(engine_tenant, default_model="clock") for _ in range(3)]
    tokens: dict[str, int] = {}

    def saved(reply_ids):
        return list(Message.objects.filter(pk__in=reply_ids).values_list("status", "seq"))

    async def turn(conversation):
        runner = TurnRunner(tenant=engine_tenant, conversation_id=conversation.pk, text="hi")
        async for event in runner.events():
            if event.type == "accepted":
                reply_id = event.data["reply_id"]
                tokens[reply_id] = 0
            elif event.type == "delta":
                tokens[reply_id] += 1

    async def main():
        turns = asyncio.gather(*(turn(c) for c in conversations))
        while len(tokens) < 3 or min(tokens.values()) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.25)  # more than one interval; the answers have 20 tokens, 40 ms apart
        mid = await asyncio.to_thread(call_in_tenant, engine_tenant, saved, list(tokens))
        await turns
        return mid

    mid = async_to_sync(main)()
    assert len(mid) == 3
    assert all(status == MessageStatus.STREAMING and 0 < seq < 20 for status, seq in mid), mid
    assert max(batches) == 3  # the three answers in one statement
    assert len(batches) < 3 * 5  # about one per interval, not one per answer per interval
    with tenant_context(engine_tenant):
        final = Message.objects.filter(pk__in=list(tokens))
        assert {m.status for m in final} == {MessageStatus.COMPLETE}
        assert all(m.content.count(" t") == 20 and m.seq == 20 for m in final)  # final write wins


def test_checkpoints_never_overwrite_a_finished_or_newer_answer(engine_tenant):
    from apps.conversations.services import reply_checkpoints, turn_begin

    conversation = make_conversation(engine_tenant, default_model="chat")
    other = make_conversation(engine_tenant, default_model="chat")
    with tenant_context(engine_tenant):
        live = turn_begin(conversation_id=conversation.pk, text="one").reply_id
        done = turn_begin(conversation_id=other.pk, text="two").reply_id
        Message.objects.filter(pk=done).update(status=MessageStatus.COMPLETE, content="Final")
        assert reply_checkpoints(items=[(live, "Partial", 5), (done, "Part", 2)]) == 1
        assert reply_checkpoints(items=[(live, "Par", 3)]) == 0  # older than what is saved
        rows = {m.pk: m for m in Message.objects.filter(pk__in=[live, done])}
    assert (rows[live].content, rows[live].seq, rows[live].status) == ("Partial", 5, "streaming")
    assert (rows[done].content, rows[done].status) == ("Final", "complete")


def test_killed_stream_is_marked_incomplete_by_the_next_turn(engine_tenant):
    """A process that died mid-answer leaves a 'streaming' row that is no longer saved."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.conversations.services import turn_begin

    conversation = make_conversation(engine_tenant, default_model="chat")
    with tenant_context(engine_tenant):
        plan = turn_begin(conversation_id=conversation.pk, text="hello?")
        # The generator died a while ago: it last saved the answer 30 s back.
        Message.objects.filter(pk=plan.reply_id).update(
            content="Partial ans", updated_at=timezone.now() - timedelta(seconds=30)
        )
    run(engine_tenant, conversation, text="Anyone?")
    with tenant_context(engine_tenant):
        dead = Message.objects.get(pk=plan.reply_id)
    assert dead.status == MessageStatus.INCOMPLETE
    assert dead.content == "Partial ans"
    assert dead.error_code == "stream_lost"


def test_a_live_stream_makes_the_conversation_busy(engine_tenant):
    from apps.conversations.services import turn_begin
    from apps.core.errors import Conflict

    conversation = make_conversation(engine_tenant, default_model="chat")
    with tenant_context(engine_tenant):
        turn_begin(conversation_id=conversation.pk, text="one")
        with pytest.raises(Conflict) as excinfo:
            turn_begin(conversation_id=conversation.pk, text="two")
    assert excinfo.value.code == "conversation_busy"


def _begin_at_once(tenant, conversation, texts_and_ids):
    """Call turn_begin from one thread per (text, client_id), all released at the same instant."""
    import threading

    from django.db import connection

    from apps.conversations.services import turn_begin
    from apps.core.errors import Conflict

    barrier = threading.Barrier(len(texts_and_ids))
    outcomes: list = []

    def begin(text, client_id):
        try:
            with tenant_context(tenant):
                barrier.wait()
                try:
                    outcomes.append(
                        turn_begin(conversation_id=conversation.pk, text=text, client_id=client_id)
                    )
                except Conflict as exc:
                    outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=begin, args=pair) for pair in texts_and_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with tenant_context(tenant):
        rows = list(conversation.messages.values_list("role", "status"))
    return outcomes, rows


def test_concurrent_turns_of_one_conversation_start_one_answer(engine_tenant):
    """Two tabs sending at once: one turn begins, the others are told the assistant is busy."""
    conversation = make_conversation(engine_tenant, default_model="chat")
    outcomes, rows = _begin_at_once(
        engine_tenant, conversation, [(f"question {i}", "") for i in range(6)]
    )
    begun = [o for o in outcomes if not isinstance(o, str)]
    assert len(begun) == 1 and not begun[0].replayed
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["conversation_busy"] * 5
    assert sorted(rows) == [("assistant", "streaming"), ("user", "complete")]


def test_concurrent_retries_of_one_message_answer_it_once(engine_tenant):
    """A client resending the same message at once: one turn, the copies replay it."""
    conversation = make_conversation(engine_tenant, default_model="chat")
    outcomes, rows = _begin_at_once(engine_tenant, conversation, [("hello", "same-id")] * 6)
    assert all(not isinstance(o, str) for o in outcomes), outcomes
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 5
    assert len({o.reply_id for o in outcomes}) == 1
    assert sorted(rows) == [("assistant", "streaming"), ("user", "complete")]


def test_stop_ends_the_answer_as_stopped(engine_tenant):
    import asyncio

    conversation = make_conversation(engine_tenant, default_model="chat")
    stop = asyncio.Event()
    runner = TurnRunner(tenant=engine_tenant, conversation_id=conversation.pk, text="hi", stop=stop)

    async def collect():
        seen = []
        async for event in runner.events():
            seen.append(event)
            if event.type == "delta" and len(seen) == 3:
                stop.set()
        return seen

    events = async_to_sync(collect)()
    assert events[-1].data["status"] == "stopped"
    with tenant_context(engine_tenant):
        reply = Message.objects.get(pk=events[0].data["reply_id"])
    assert reply.status == MessageStatus.STOPPED
    assert reply.content == text_of(events)


def test_retried_client_id_does_not_answer_twice(engine_tenant):
    conversation = make_conversation(engine_tenant, default_model="chat")
    _first, reply, _, _ = run(engine_tenant, conversation, client_id="c-123")
    second, again, _, _ = run(engine_tenant, conversation, client_id="c-123")
    assert again.pk == reply.pk
    assert second[-1].data["content"] == reply.content
    with tenant_context(engine_tenant):
        assert conversation.messages.count() == 2


@pytest.mark.parametrize(
    ("text", "code"), [("   ", "empty_message"), ("x" * 8001, "message_too_long")]
)
def test_bad_messages_are_refused_with_a_code_and_nothing_saved(engine_tenant, text, code):
    from apps.core.errors import InvalidInput

    conversation = make_conversation(engine_tenant, default_model="chat")
    with pytest.raises(InvalidInput) as excinfo:
        run(engine_tenant, conversation, text=text)
    assert excinfo.value.code == code
    with tenant_context(engine_tenant):
        assert conversation.messages.count() == 0


def test_local_first_assistants_never_reach_cloud_unless_allowed(engine_tenant):
    """A cloud deployment in the chain is skipped when cloud fallback is off."""
    from apps.llm.router import tenant_router
    from apps.llm.selectors import assistant_config

    with tenant_context(engine_tenant):
        cloud = llm.provider_create(
            name=f"cloud-{uuid.uuid4().hex[:6]}", kind="openai", api_key="sk-test-1234567890"
        )
        alias = f"mixed-{uuid.uuid4().hex[:6]}"
        llm.deployment_create(provider=cloud, model_name="gpt-4o-mini", alias=alias)
        local = llm.deployment_create(
            provider=llm.Provider.objects.get(name="fake-ollama"), model_name="echo", alias=alias
        )
        private = llm.assistant_create(name=f"p-{uuid.uuid4().hex[:6]}", default_model=alias)
        open_ = llm.assistant_create(
            name=f"o-{uuid.uuid4().hex[:6]}", default_model=alias, allow_cloud_fallback=True
        )
        router = tenant_router()
        private_chain = router.chain_for(assistant_config(private))
        open_chain = router.chain_for(assistant_config(open_))
    assert [g.is_local for g in private_chain] == [True]
    assert [g.is_local for g in open_chain] == [True, False]
    assert local.priority < 10


@pytest.fixture(scope="module")
def order_api():
    """A loopback 'internal API' the HTTP tool calls."""
    import http.server
    import json
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(
                {"order": self.path.rsplit("/", 1)[-1], "status": "shipped", "internal": "x"}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_tool_loop_calls_an_enabled_tool_and_stores_the_call(engine_tenant, fake_llm, order_api):
    from apps.tools.services import http_tool_create

    conversation = make_conversation(engine_tenant, default_model="toolcaller")
    with tenant_context(engine_tenant):
        assistant = Assistant.objects.get(pk=conversation.assistant_id)
        http_tool_create(
            name=f"order_status_{uuid.uuid4().hex[:6]}",
            description="Status of an order",
            url_template=f"http://127.0.0.1:{order_api}/orders/{{order_id}}",
            allowed_hosts=["127.0.0.1"],
            parameters={
                "type": "object",
                "properties": {"order_id": {"type": "integer"}},
                "required": ["order_id"],
            },
            response_fields=["order", "status"],
            allow_private_network=True,
            summary_template="Looked up order {order_id}",
            assistants=[assistant],
        )
    fake_llm.tool_arguments = {"order_id": 1234}
    fake_llm.requests.clear()
    events, reply, _, _ = run(engine_tenant, conversation, text="Where is order 1234?")

    assert [e.data["summary"] for e in events if e.type == "tool"] == ["Looked up order 1234"]
    assert reply.status == MessageStatus.COMPLETE
    assert "shipped" in reply.content and "internal" not in reply.content
    assert reply.tool_calls[0]["ok"] is True
    assert reply.tool_calls[0]["summary"] == "Looked up order 1234"
    # The model saw the tool result as a tool message, and was offered the tool.
    final_request = fake_llm.requests[-1]["body"]
    assert final_request["messages"][-1]["role"] == "tool"
    assert fake_llm.requests[0]["body"]["tools"][0]["function"]["name"].startswith("order_status_")


def test_a_tool_error_goes_back_to_the_model_not_to_the_visitor(engine_tenant, fake_llm):
    from apps.tools.services import http_tool_create

    conversation = make_conversation(engine_tenant, default_model="toolcaller")
    with tenant_context(engine_tenant):
        assistant = Assistant.objects.get(pk=conversation.assistant_id)
        http_tool_create(
            name=f"broken_{uuid.uuid4().hex[:6]}",
            description="Always refused: loopback without the private-network box",
            url_template="http://127.0.0.1:9/x",
            allowed_hosts=["127.0.0.1"],
            assistants=[assistant],
        )
    fake_llm.tool_arguments = {}
    _events, reply, _, _ = run(engine_tenant, conversation, text="Try it")
    assert reply.status == MessageStatus.COMPLETE
    assert reply.tool_calls[0]["ok"] is False and reply.tool_calls[0]["error_code"]
    assert "Traceback" not in reply.content
    assert reply.content.startswith("The tool said:")
