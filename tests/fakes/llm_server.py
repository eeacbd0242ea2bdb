"""A real HTTP server on loopback that speaks the OpenAI and Ollama protocols.

It is the one stand-in the test suite allows: LiteLLM's real code path (HTTP client,
streaming parser, retries) runs against it. Behaviour is chosen by the model name:

- ``echo`` (or anything else): streams "Hello from the fake model. You asked: <question>".
- ``slow-<ms>``: waits <ms> before the first token.
- ``ratelimit-once``: answers 429 with Retry-After: 1 to the first request, then normally.
- ``ratelimit``: always 429 (Retry-After: 1).
- ``unauthorized``: 401.
- ``disconnect``: streams a few tokens, then drops the connection.
- ``hang``: never answers (for timeouts).
- ``toolcaller``: with tools offered and no tool result yet, asks for the first tool with the
  arguments in ``FakeLLMServer.tool_arguments``; after a tool result, answers with it.
- ``too-long``: 400 context_length_exceeded.
- ``clock``: every content token is a timestamp (``time.monotonic()``, comparable across
  processes on one machine): the first is ``r<request received> t<sent>``, the others
  `` t<sent>``. Benchmarks use it to subtract the provider's own time from ours, token by token.
  ``clock-<tokens>-<delay ms>`` sets the answer's length and the gap between its tokens.

Also usable from benchmarks: ``FakeLLMServer(token_delay=0.0).start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

from aiohttp import web


class FakeLLMServer:
    def __init__(self, *, token_delay: float = 0.0, tokens: int | None = None) -> None:
        self.token_delay = token_delay
        self.tokens = tokens
        self.requests: list[dict[str, Any]] = []
        self.tool_arguments: dict[str, Any] = {}
        self.attempts: dict[str, int] = {}
        self.ollama_models: dict[str, dict[str, Any]] = {
            "llama3.2:3b": {
                "size": 2019393189,
                "details": {
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                    "family": "llama",
                },
            }
        }
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeLLMServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _start(self, port: int = 0, backlog: int = 128) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/chat/completions", self.openai_chat)
        app.router.add_get("/v1/models", self.openai_models)
        app.router.add_post("/api/chat", self.ollama_chat)
        app.router.add_get("/api/tags", self.ollama_tags)
        app.router.add_post("/api/pull", self.ollama_pull)
        app.router.add_delete("/api/delete", self.ollama_delete)
        app.router.add_get("/api/version", self.ollama_version)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=backlog)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)  # type: ignore[union-attr]
        # A handler may still be sleeping ("hang"): the loop stops anyway.
        with contextlib.suppress(TimeoutError):
            cleanup.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # --- behaviour -----------------------------------------------------------------------
    def answer_for(self, body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        tool_results = [m for m in messages if m.get("role") == "tool"]
        if tool_results:
            return f"The tool said: {tool_results[-1].get('content', '')}"
        question = next(
            (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        cite = " See [1]." if "<passages>" in str(system) else ""
        answer = f"Hello from the fake model. You asked: {question}{cite}"
        if self.tokens:
            words = (answer + " ") * (self.tokens // max(1, len(answer.split())) + 1)
            answer = " ".join(words.split()[: self.tokens])
        return answer

    @staticmethod
    def _pieces(text: str) -> list[str]:
        words = text.split(" ")
        return [word if i == 0 else " " + word for i, word in enumerate(words)]

    async def _pre(self, model: str) -> web.Response | None:
        self.attempts[model] = self.attempts.get(model, 0) + 1
        if model.startswith("slow-"):
            await asyncio.sleep(int(model.split("-", 1)[1]) / 1000)
        if model == "hang":
            await asyncio.sleep(30)
        if model == "unauthorized":
            return _error(
                401, "Incorrect API key provided.", "invalid_api_key", "invalid_request_error"
            )
        if model == "ratelimit" or (model == "ratelimit-once" and self.attempts[model] == 1):
            response = _error(429, "Rate limit reached.", "rate_limit_exceeded", "requests")
            response.headers["Retry-After"] = "1"
            return response
        if model == "too-long":
            return _error(
                400,
                "This model's maximum context length is 8 tokens.",
                "context_length_exceeded",
                "invalid_request_error",
            )
        return None

    # --- OpenAI ---------------------------------------------------------------------------
    async def openai_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "echo", "object": "model"}]})

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        body = await request.json()
        self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers)})
        model = body.get("model", "echo")
        early = await self._pre(model)
        if early is not None:
            return early
        created = int(time.time())
        tool_call = None
        if (
            model == "toolcaller"
            and body.get("tools")
            and not any(m.get("role") == "tool" for m in body.get("messages", []))
        ):
            tool_call = {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": body["tools"][0]["function"]["name"],
                    "arguments": json.dumps(self.tool_arguments),
                },
            }
        answer = "" if tool_call else self.answer_for(body)
        prompt_tokens = sum(
            len(str(m.get("content", ""))) // 4 + 4 for m in body.get("messages", [])
        )
        completion_tokens = len(self._pieces(answer)) if answer else 5
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        base = {"id": "chatcmpl-fake", "created": created, "model": model}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": answer or None}
            if tool_call:
                message["tool_calls"] = [tool_call]
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if tool_call else "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            await response.write(
                f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', **payload})}\n\n".encode()
            )

        await send(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ]
            }
        )
        if tool_call:
            await send(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{"index": 0, **tool_call}]},
                            "finish_reason": None,
                        }
                    ]
                }
            )
            await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        elif model.startswith("clock"):
            count, delay = _clock_shape(model, self.tokens or 30, self.token_delay)
            for number in range(count):
                if number and delay:
                    await asyncio.sleep(delay)
                stamp = f" t{time.monotonic():.6f}"
                piece = f"r{received:.6f}{stamp}" if number == 0 else stamp
                await send(
                    {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                )
            await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        else:
            for number, piece in enumerate(self._pieces(answer)):
                if model == "disconnect" and number == 3:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                await send(
                    {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                )
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
            await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # --- Ollama ---------------------------------------------------------------------------
    async def ollama_version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.0.0-fake"})

    async def ollama_tags(self, request: web.Request) -> web.Response:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": "2026-11-01T00:00:00Z",
                "digest": "sha256:fake",
                **info,
            }
            for name, info in self.ollama_models.items()
        ]
        return web.json_response({"models": models})

    async def ollama_pull(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        name = body.get("model") or body.get("name")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        if name == "does-not-exist":
            await response.write(
                json.dumps({"error": "pull model manifest: file does not exist"}).encode() + b"\n"
            )
            await response.write_eof()
            return response
        total = 1000
        await response.write(json.dumps({"status": "pulling manifest"}).encode() + b"\n")
        for completed in range(0, total + 1, 250):
            await response.write(
                json.dumps(
                    {
                        "status": "pulling sha256:fake",
                        "digest": "sha256:fake",
                        "total": total,
                        "completed": completed,
                    }
                ).encode()
                + b"\n"
            )
            await asyncio.sleep(0.01)
        await response.write(json.dumps({"status": "success"}).encode() + b"\n")
        self.ollama_models[name] = {
            "size": total,
            "details": {"parameter_size": "1B", "quantization_level": "Q8_0", "family": "fake"},
        }
        await response.write_eof()
        return response

    async def ollama_delete(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = body.get("model") or body.get("name")
        if self.ollama_models.pop(name, None) is None:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.Response(status=200)

    async def ollama_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers)})
        model = body.get("model", "echo")
        early = await self._pre(model)
        if early is not None:
            return early
        answer = self.answer_for(body)
        pieces = self._pieces(answer)
        if body.get("stream") is False:
            return web.json_response(
                {
                    "model": model,
                    "created_at": "2026-11-22T00:00:00Z",
                    "message": {"role": "assistant", "content": answer},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": 20,
                    "eval_count": len(pieces),
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for number, piece in enumerate(pieces):
            if model == "disconnect" and number == 3:
                request.transport.close()  # type: ignore[union-attr]
                return response
            line = {
                "model": model,
                "created_at": "2026-11-22T00:00:00Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            await response.write(json.dumps(line).encode() + b"\n")
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
        final = {
            "model": model,
            "created_at": "2026-11-22T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 20,
            "eval_count": len(pieces),
        }
        await response.write(json.dumps(final).encode() + b"\n")
        await response.write_eof()
        return response


def _clock_shape(model: str, tokens: int, delay: float) -> tuple[int, float]:
    parts = model.split("-")
    if len(parts) > 1 and parts[1].isdigit():
        tokens = int(parts[1])
    if len(parts) > 2 and parts[2].isdigit():
        delay = int(parts[2]) / 1000
    return tokens, delay


def _error(status: int, message: str, code: str, type_: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, status=status
    )


def main() -> None:
    """Run the fake provider in its own process: ``python -m tests.fakes.llm_server --port N``
    (benchmarks, and trying the backoffice by hand: OpenAI and Ollama endpoints both)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=None)
    args = parser.parse_args()
    server = FakeLLMServer(token_delay=args.token_delay, tokens=args.tokens)

    async def serve() -> None:
        await server._start(port=args.port, backlog=2048)  # benchmarks open hundreds at once
        print(f"listening on {server.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
