"""The widget's HTTP side: the script, its config (CORS, origins) and the SSE fallback."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import AsyncClient, Client

from tests.widgets.conftest import ORIGIN

pytestmark = pytest.mark.usefixtures("committed")


def sse_frames(content: bytes) -> list[dict]:
    return [
        json.loads(line[6:]) for line in content.decode().splitlines() if line.startswith("data: ")
    ]


@pytest.fixture
def client() -> Client:
    return Client(HTTP_HOST="localhost")


def test_widget_js_has_a_content_hash_etag_and_caching(client):
    response = client.get("/widget.js", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "max-age=3600" in response["Cache-Control"]
    etag = response["ETag"]
    assert client.get("/widget.js", HTTP_IF_NONE_MATCH=etag).status_code == 304
    hashed = client.get(f"/widget.{etag.strip(chr(34))}.js")
    assert hashed.status_code == 200 and "immutable" in hashed["Cache-Control"]
    assert client.get("/widget.0000000000000000.js").status_code == 404


def test_config_returns_display_settings_only_with_exact_cors(client, widget):
    response = client.get(f"/widget/config?key={widget['fast'].embed_key}", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    body = response.json()
    assert set(body) == {
        "title", "greeting", "starter_questions", "colors", "logo_url", "position",
        "launcher_icon", "dark_mode", "language", "show_sources",
    }  # fmt: skip
    assert widget["fast"].identity_secret not in response.content.decode()
    assert widget["fast"].embed_key not in response.content.decode()


def test_config_refuses_other_origins_and_unknown_keys(client, widget):
    other = client.get(
        f"/widget/config?key={widget['fast'].embed_key}", HTTP_ORIGIN="https://evil.example"
    )
    assert other.status_code == 403
    assert other.json() == {
        "type": "aichat.error", "code": "origin_not_allowed", "message": "This page may not use this widget.",
        "retry_after": None, "client_id": None, "message_id": None,
    }  # fmt: skip
    assert client.get("/widget/config?key=ek_nope", HTTP_ORIGIN=ORIGIN).status_code == 401


def test_an_unexpected_failure_is_a_coded_json_error_with_cors(client, widget, monkeypatch):
    from apps.widgets import selectors

    def broken(widget):
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(selectors, "widget_public_config", broken)
    response = client.get(f"/widget/config?key={widget['fast'].embed_key}", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 500
    assert response["Access-Control-Allow-Origin"] == ORIGIN  # the page can read why
    assert response.json()["code"] == "internal_error"
    assert "secret detail" not in response.content.decode()


def test_preflight_allows_the_identity_header(client, widget):
    response = client.options(
        f"/widget/api/messages?key={widget['fast'].embed_key}&session_id=x",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response.status_code == 204
    assert "X-AIChat-Identity" in response["Access-Control-Allow-Headers"]


@pytest.mark.asyncio
async def test_sse_message_streams_the_answer_and_session_shows_it(widget):
    client = AsyncClient(HTTP_HOST="localhost")
    key = widget["fast"].embed_key
    session = (
        await client.get(f"/widget/api/session?key={key}", headers={"origin": ORIGIN})
    ).json()["session_id"]
    response = await client.post(
        f"/widget/api/messages?key={key}&session_id={session}",
        data=json.dumps({"session_id": session, "client_id": "sse-1", "text": "Over HTTP?"}),
        content_type="application/json",
        headers={"origin": ORIGIN},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join([chunk async for chunk in response.streaming_content])
    frames = sse_frames(body)
    assert frames[0]["type"] == "aichat.accepted"
    assert (
        "".join(f.get("text", "") for f in frames)
        == "Hello from the fake model. You asked: Over HTTP?"
    )
    assert frames[-1]["type"] == "aichat.done"
    assert b"id: 1\n" in body

    welcome = (
        await client.get(
            f"/widget/api/session?key={key}&session_id={session}", headers={"origin": ORIGIN}
        )
    ).json()
    assert welcome["session_id"] == session
    assert [m["role"] for m in welcome["messages"]] == ["user", "assistant"]

    reply_id = frames[0]["reply_id"]
    resumed = await client.get(
        f"/widget/api/messages/{reply_id}/stream?key={key}&session_id={session}&after_seq=2",
        headers={"origin": ORIGIN},
    )
    rest = sse_frames(b"".join([chunk async for chunk in resumed.streaming_content]))
    assert rest[0]["seq"] == 3 and rest[-1]["type"] == "aichat.done"

    other_session = str(uuid.uuid4())
    missing = await client.get(
        f"/widget/api/messages/{reply_id}/stream?key={key}&session_id={other_session}",
        headers={"origin": ORIGIN},
    )
    assert missing.status_code == 404

    feedback = await client.post(
        f"/widget/api/messages/{reply_id}/feedback?key={key}&session_id={session}",
        data=json.dumps({"rating": "up", "comment": ""}),
        content_type="application/json",
        headers={"origin": ORIGIN},
    )
    assert feedback.status_code == 204


def test_oversized_and_malformed_posts_are_coded_errors(client, widget):
    key = widget["fast"].embed_key
    big = client.post(
        f"/widget/api/messages?key={key}&session_id=s",
        data=json.dumps({"client_id": "b", "text": "x" * 20000}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )
    assert big.status_code == 413 and big.json()["code"] == "frame_too_large"
    bad = client.post(
        f"/widget/api/messages?key={key}&session_id=s",
        data="nope",
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "bad_frame"


def test_same_origin_requests_without_an_origin_header_use_the_host(
    widget, engine_tenant, committed
):
    from django_tenants.utils import tenant_context

    from apps.widgets.services import widget_update

    with tenant_context(engine_tenant):
        w = widget["fast"]
        widget_update(widget=w, allowed_origins=[*w.allowed_origins, "http://localhost"])
    client = Client(HTTP_HOST="localhost")
    response = client.get(f"/widget/config?key={w.embed_key}", HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 200
    assert client.get(f"/widget/config?key={w.embed_key}").status_code == 403  # no origin at all


@pytest.mark.parametrize(
    "rule",
    [
        "https://a.*.com",
        "https://exa mple.com",
        "https://*.com",
        "https://ex_ample.com",
        "ftp://x.com",
        "https://x.com/path",
        "https://example.com:0",  # was taken for port 443
    ],
)
def test_origin_rules_are_strict(rule):
    from apps.widgets.security import check_origin_rule

    with pytest.raises(ValueError):
        check_origin_rule(rule)


@pytest.mark.parametrize(
    "rule",
    [
        "https://shop.acme.com",
        "http://localhost:8000",
        "https://*.acme.com",
        "http://127.0.0.1:3000",
    ],
)
def test_origin_rules_accept_real_origins(rule):
    from apps.widgets.security import check_origin_rule

    assert check_origin_rule(rule) == rule


@pytest.mark.parametrize(
    ("session_id", "text", "code"),
    [
        ("bad\x00session", "hello", "bad_frame"),
        ("a" * 65, "hello", "bad_frame"),
        ("s-empty", " \x00 ", "empty_message"),
        ("s-long", "x" * 9000, "message_too_long"),
    ],
)
def test_bad_sessions_and_texts_are_400s_that_store_nothing(
    client, widget, engine_tenant, session_id, text, code
):
    from django_tenants.utils import tenant_context

    from apps.conversations.models import Conversation

    with tenant_context(engine_tenant):
        before = Conversation.objects.count()
    response = client.post(
        f"/widget/api/messages?key={widget['fast'].embed_key}",
        data=json.dumps({"session_id": session_id, "client_id": "c-1", "text": text}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["client_id"] == "c-1"
    with tenant_context(engine_tenant):
        assert Conversation.objects.count() == before  # no empty conversation left behind
