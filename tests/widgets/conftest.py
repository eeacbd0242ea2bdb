"""Widget fixtures: a committed widget of the engine tenant, a slow provider, a socket helper."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django_tenants.utils import tenant_context

ORIGIN = "https://shop.engine.test"


@pytest.fixture(scope="session")
def slow_llm():
    """A second fake provider whose answers stream slowly (for stop and reload tests)."""
    from tests.fakes.llm_server import FakeLLMServer

    server = FakeLLMServer(token_delay=0.05, tokens=60).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def widget(engine_tenant, slow_llm, django_db_blocker):
    from apps.llm import services as llm
    from apps.widgets.services import widget_create

    with django_db_blocker.unblock(), tenant_context(engine_tenant):
        provider = llm.provider_create(
            name="slow-vllm", kind="openai_compatible", api_base=f"{slow_llm.base_url}/v1"
        )
        llm.deployment_create(provider=provider, model_name="echo", alias="slowchat")
        slow = llm.assistant_create(name="Slow", default_model="slowchat")
        fast = widget_create(name="Shop", allowed_origins=[ORIGIN, "http://localhost:8123"])
        slow_widget = widget_create(name="Slow shop", allowed_origins=[ORIGIN])
        slow_widget.assistant = slow
        slow_widget.save()
    return {"fast": fast, "slow": slow_widget}


class Socket:
    """A WebsocketCommunicator that speaks the widget protocol."""

    def __init__(self, key: str, origin: str | None = ORIGIN, ip: str = "10.0.0.1") -> None:
        from config.asgi import application

        headers = [(b"origin", origin.encode())] if origin else []
        self.comm = WebsocketCommunicator(application, f"/ws/widget/?key={key}", headers=headers)
        self.comm.scope["client"] = (ip, 5555)

    async def open(self) -> Any:
        connected, _ = await self.comm.connect()
        assert connected
        return self

    async def send(self, **frame: Any) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout: float = 30) -> dict[str, Any]:
        return json.loads(await self.comm.receive_from(timeout=timeout))

    async def closed_with(self) -> int:
        output = await self.comm.receive_output(timeout=5)
        assert output["type"] == "websocket.close", output
        return output["code"]

    async def hello(self, session_id: str | None = None, identity: Any = None) -> dict[str, Any]:
        await self.send(type="aichat.hello", session_id=session_id, identity=identity)
        return await self.recv()

    async def ask(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        await self.send(type="aichat.message", client_id=client_id or str(uuid.uuid4()), text=text)
        return await self.recv()

    async def until_done(self, timeout: float = 20) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = await self.recv(timeout)
            frames.append(frame)
            if frame["type"] == "aichat.done":
                return frames

    async def close(self) -> None:
        await self.comm.disconnect()


@pytest.fixture
def socket_for():
    opened: list[Socket] = []

    async def make(key: str, **kwargs: Any) -> Socket:
        sock = Socket(key, **kwargs)
        opened.append(sock)
        return await sock.open()

    yield make
