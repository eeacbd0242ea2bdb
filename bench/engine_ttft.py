"""Added time to first token: our engine vs the provider it calls, side by side.

Starts the loopback fake provider (tests/fakes/llm_server.py) in its own process, configures a
throwaway tenant to use it, then for each sample measures, alternately:
- provider TTFT: a raw streaming HTTP request to the provider, until its first content chunk;
- LiteLLM TTFT: the same through `litellm.acompletion` directly (what LiteLLM itself adds);
- engine TTFT: `TurnRunner` from "message in" (the user's message and an empty reply persisted,
  router looked up, prompt built) to the first token out. Retrieval is excluded (the assistant
  has no knowledge base here; retrieval is measured in bench/retrieval.py).
Added TTFT = engine - provider, per sample. Then the same with N concurrent turns.

Usage: python -m bench engine_ttft [--samples 300] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} p50 {pct(values, 50):7.2f} ms  p90 {pct(values, 90):7.2f} ms  "
        f"p99 {pct(values, 99):7.2f} ms  (n={len(values)})"
    )


def start_provider(token_delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm_server", "--token-delay", str(token_delay)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    port = int(line.rsplit(" ", 1)[1])
    return proc, f"http://127.0.0.1:{port}"


async def raw_ttft(client, base: str, text: str) -> float:
    body = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    elapsed = None
    async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if elapsed is None and '"content": "' in line and '"content": ""' not in line:
                elapsed = (time.perf_counter() - started) * 1000
    if elapsed is None:
        raise RuntimeError("no content")
    return elapsed


async def litellm_ttft(base: str, text: str) -> float:
    import litellm

    started = time.perf_counter()
    stream = await litellm.acompletion(
        model="openai/echo",
        api_base=f"{base}/v1",
        api_key="none",
        messages=[{"role": "user", "content": text}],
        stream=True,
    )
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


async def engine_ttft(tenant, conversation_id, text: str) -> tuple[float, str]:
    from apps.conversations.engine import TurnRunner

    started = time.perf_counter()
    runner = TurnRunner(tenant=tenant, conversation_id=conversation_id, text=text)
    first = None
    status = ""
    async for event in runner.events():
        if event.type == "delta" and first is None:
            first = (time.perf_counter() - started) * 1000
        if event.type == "done":
            status = event.data["status"]
    return first or 0.0, status


def setup_tenant(base: str, count: int):
    from django_tenants.utils import tenant_context

    from apps.conversations.models import Channel
    from apps.conversations.services import conversation_create
    from apps.llm import services as llm
    from apps.tenants.services import tenant_create

    slug = f"bench-engine-{uuid.uuid4().hex[:6]}"
    created = tenant_create(
        slug=slug,
        name="Bench engine",
        domain=f"{slug}.localhost",
        owner_email=f"o-{slug}@bench.test",
    )
    with tenant_context(created.tenant):
        provider = llm.provider_create(name="fake", kind="openai_compatible", api_base=f"{base}/v1")
        llm.deployment_create(provider=provider, model_name="echo", alias="chat")
        assistant = llm.assistant_create(name="Bench", default_model="chat", is_default=True)
        conversations = [
            conversation_create(channel=Channel.API, assistant=assistant).pk for _ in range(count)
        ]
    return created.tenant, conversations


def drop_tenant(tenant) -> None:
    from django.db import connection

    from apps.accounts.models import User
    from apps.tenants.models import Tenant

    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
    Tenant.objects.filter(pk=tenant.pk).delete()
    User.objects.filter(email__endswith="@bench.test").delete()


async def sequential(tenant, conversations, base: str, samples: int) -> dict[str, list[float]]:
    import httpx

    results: dict[str, list[float]] = {"provider": [], "litellm": [], "engine": [], "added": []}
    async with httpx.AsyncClient(timeout=30) as client:
        # Warm up: imports, router build, connection pools.
        for _ in range(5):
            await raw_ttft(client, base, "warm")
            await litellm_ttft(base, "warm")
            await engine_ttft(tenant, conversations[0], "warm up")
        for i in range(samples):
            text = f"question {i}"
            provider = await raw_ttft(client, base, text)
            results["litellm"].append(await litellm_ttft(base, text))
            engine, status = await engine_ttft(
                tenant, conversations[1 + i % (len(conversations) - 1)], text
            )
            assert status == "complete", status
            results["provider"].append(provider)
            results["engine"].append(engine)
            results["added"].append(engine - provider)
    return results


async def concurrent(tenant, conversations, base: str, concurrency: int) -> dict[str, list[float]]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        provider = await asyncio.gather(
            *(raw_ttft(client, base, f"c{i}") for i in range(concurrency))
        )
    outcomes = await asyncio.gather(
        *(engine_ttft(tenant, conversations[i], f"concurrent {i}") for i in range(concurrency)),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, BaseException) or o[1] != "complete"]
    engine = [o[0] for o in outcomes if not isinstance(o, BaseException)]
    return {"provider": list(provider), "engine": engine, "errors": [float(len(errors))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--token-delay", type=float, default=0.005)
    args, _ = parser.parse_known_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    # Threads for database calls: enough for the concurrent run.
    from asgiref.sync import SyncToAsync  # noqa: F401
    from django.conf import settings

    proc, base = start_provider(args.token_delay)
    tenant, conversations = setup_tenant(base, max(args.concurrency, 20) + 1)
    try:
        seq = asyncio.run(sequential(tenant, conversations, base, args.samples))
        print(
            f"Sequential turns ({args.samples}), provider token delay {args.token_delay * 1000:.0f} ms:"
        )
        print(summary("provider TTFT (raw HTTP)", seq["provider"]))
        print(summary("LiteLLM TTFT (acompletion)", seq["litellm"]))
        print(summary("engine TTFT (message in -> token)", seq["engine"]))
        print(summary("added by us (engine - provider)", seq["added"]))
        print(f"  median added: {statistics.median(seq['added']):.2f} ms")
        conc = asyncio.run(concurrent(tenant, conversations[1:], base, args.concurrency))
        added_p99 = pct(conc["engine"], 99) - pct(conc["provider"], 99)
        print(f"\n{args.concurrency} concurrent streamed turns: errors {int(conc['errors'][0])}")
        print(summary("provider TTFT (raw, same concurrency)", conc["provider"]))
        print(summary("engine TTFT", conc["engine"]))
        print(f"  p99 added (engine p99 - provider p99): {added_p99:.1f} ms")
        print(json.dumps({"database": settings.DATABASES["default"]["HOST"]}))
    finally:
        proc.terminate()
        drop_tenant(tenant)


if __name__ == "__main__":
    main()
