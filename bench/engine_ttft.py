"""Added time to first token: our engine vs the provider it calls, side by side.

Starts the loopback fake provider (tests/fakes/llm_server.py) in its own process, configures a
throwaway tenant to use it, then for each sample measures, alternately:
- provider TTFT: a raw streaming HTTP request to the provider, until its first content chunk;
- LiteLLM TTFT: the same through `litellm.acompletion` directly (what LiteLLM itself adds);
- engine TTFT: `TurnRunner` from "message in" (the user's message and an empty reply persisted,
  router looked up, prompt built) to the first token out. Retrieval is excluded (the assistant
  has no knowledge base here; retrieval is measured in bench/retrieval.py).
Added TTFT = engine - provider, per sample. Then the same with N concurrent turns.

Concurrent run: ``--concurrency`` clients spread over ``--processes`` engine processes (one per
core, as stateless nodes are deployed), starting evenly over ``--ramp`` seconds, each asking
``--turns`` questions back to back, so that about ``--concurrency`` answers stream at once. The
provider's ``clock`` model stamps every token with its own send time, so our added time to first
token and our added gap between tokens are measured per turn and per token, whatever the load
on the provider process (which shares the machine).

Usage: python -m bench engine_ttft [--samples 300] [--concurrency 200] [--processes 2]
       [--ramp SECONDS] [--turns 2] [--tokens 100] [--answer-token-delay 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
        model="hosted_vllm/echo",  # the route our openai_compatible deployments take
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


def setup_tenant(base: str, count: int, clock_model: str):
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
            conversation_create(channel=Channel.API, assistant=assistant).pk for _ in range(20)
        ]
        llm.deployment_create(provider=provider, model_name=clock_model, alias="clock")
        clocked = llm.assistant_create(name="Clock", default_model="clock")
        clock_conversations = [
            conversation_create(channel=Channel.API, assistant=clocked).pk for _ in range(count)
        ]
    return created.tenant, conversations, clock_conversations


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


async def clock_turn(tenant, conversation_id, text: str) -> dict:
    """One turn against the ``clock`` model: our added TTFT and per-token gaps, from stamps."""
    from apps.conversations.engine import TurnRunner
    from bench.clock import TokenClock

    clock = TokenClock()
    started = time.monotonic()
    first = None
    status = ""
    runner = TurnRunner(tenant=tenant, conversation_id=conversation_id, text=text)
    async for event in runner.events():
        if event.type == "delta":
            now = time.monotonic()
            first = first or now
            clock.feed(event.data["text"], now)
        elif event.type == "done":
            status = event.data["status"]
    if status != "complete" or first is None:
        return {"error": status or "no tokens"}
    return {
        "added_ttft": clock.added_ttft_ms(started, first),
        "provider_ttft": (clock.sent[0] - clock.received) * 1000,  # type: ignore[operator]
        "gaps": clock.added_gaps_ms(),
    }


async def clients(tenant, plan: dict) -> list[dict]:
    """Closed-loop clients: each starts at its offset, then asks its questions back to back."""

    async def client(conversation_id, offset: float) -> list[dict]:
        await asyncio.sleep(max(0.0, plan["start_at"] + offset - time.monotonic()))
        results = []
        for turn in range(plan["turns"]):
            try:
                results.append(await clock_turn(tenant, conversation_id, f"question {turn}"))
            except Exception as exc:  # counted, not fatal: the figure is "no error"
                results.append({"error": repr(exc)})
        return results

    outcomes = await asyncio.gather(
        *(client(c, o) for c, o in zip(plan["conversations"], plan["offsets"], strict=True))
    )
    return [result for per_client in outcomes for result in per_client]


def worker(spec_path: str) -> None:
    """A concurrent-run process: set up Django, warm up, run its clients, write results."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from apps.core.warmup import warm_and_freeze
    from apps.tenants.models import Tenant

    if not os.environ.get("BENCH_NO_FREEZE"):  # to measure what freezing the heap buys
        warm_and_freeze()  # as config/asgi.py does for daphne
    plan = json.loads(Path(spec_path).read_text())
    tenant = Tenant.objects.get(schema_name=plan["schema"])

    async def run() -> dict:
        for _ in range(3):  # imports, the tenant's router, pooled connections
            await clock_turn(tenant, plan["warm_conversation"], "warm up")
        Path(plan["ready"]).touch()
        start = Path(plan["start"])
        while not start.exists():
            await asyncio.sleep(0.01)
        plan["start_at"] = float(start.read_text())
        cpu = time.process_time()
        pauses: list[float] = []
        began = [0.0]

        def gc_timer(phase: str, info: dict) -> None:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                pauses.append((time.perf_counter() - began[0]) * 1000)

        gc.callbacks.append(gc_timer)
        turns = await clients(tenant, plan)
        gc.callbacks.remove(gc_timer)
        return {
            "turns": turns,
            "cpu_s": time.process_time() - cpu,
            "gc_max_ms": max(pauses, default=0),
        }

    Path(spec_path).with_suffix(".out").write_text(json.dumps(asyncio.run(run())))


def concurrent(schema: str, conversations, args) -> dict:
    """``args.concurrency`` clients over ``args.processes`` processes, started over ``args.ramp``."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    count, processes = args.concurrency, args.processes
    offsets = [i * args.ramp / count for i in range(count)]
    procs, specs = [], []
    for p in range(processes):
        spec = work / f"worker{p}.json"
        specs.append(spec)
        mine = range(p, count, processes)
        spec.write_text(
            json.dumps(
                {
                    "schema": schema,
                    "conversations": [str(conversations[i]) for i in mine],
                    "offsets": [offsets[i] for i in mine],
                    "warm_conversation": str(conversations[count + p]),
                    "turns": args.turns,
                    "start": str(work / "start"),
                    "ready": str(work / f"ready{p}"),
                }
            )
        )
    # Two passes: start every process (they warm up), then give them one common start time.
    for spec in specs:
        procs.append(
            subprocess.Popen([sys.executable, "-m", "bench.engine_ttft", "--worker", str(spec)], cwd=BASE_DIR)
        )  # fmt: skip
    while not all((work / f"ready{p}").exists() for p in range(processes)):
        if any(proc.poll() not in (None, 0) for proc in procs):
            raise RuntimeError("a bench worker failed")
        time.sleep(0.1)
    started = work / "start.tmp"
    started.write_text(str(time.monotonic() + 0.5))
    started.rename(work / "start")  # atomic: a worker never reads half a number
    for proc in procs:
        proc.wait()
    outputs = [json.loads(spec.with_suffix(".out").read_text()) for spec in specs]
    results = [turn for output in outputs for turn in output["turns"]]
    return {
        "errors": [r["error"] for r in results if "error" in r],
        "added": [r["added_ttft"] for r in results if "added_ttft" in r],
        "provider": [r["provider_ttft"] for r in results if "provider_ttft" in r],
        "gaps": [g for r in results for g in r.get("gaps", [])],
        "cpu_s": [output["cpu_s"] for output in outputs],
        "gc_max_ms": [output["gc_max_ms"] for output in outputs],
        "turns": len(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2, help="engine processes (one per core)")
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds over which clients start (default: one answer's length; 0 = all at once)",
    )
    parser.add_argument("--turns", type=int, default=2, help="questions per client, back to back")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per concurrent answer")
    parser.add_argument(
        "--answer-token-delay",
        type=float,
        default=0.1,
        help="seconds between a concurrent answer's tokens",
    )
    parser.add_argument(
        "--token-delay", type=float, default=0.005, help="sequential run's token delay"
    )
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.worker:
        worker(args.worker)
        return
    if args.ramp is None:
        args.ramp = args.tokens * args.answer_token_delay

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    from apps.core.warmup import warm_and_freeze

    warm_and_freeze()  # as config/asgi.py does for daphne
    proc, base = start_provider(args.token_delay)
    clock_model = f"clock-{args.tokens}-{round(args.answer_token_delay * 1000)}"
    try:
        tenant, conversations, clocked = setup_tenant(
            base, args.concurrency + args.processes, clock_model
        )
    except BaseException:
        proc.terminate()
        raise
    try:
        if not args.skip_sequential:
            seq = asyncio.run(sequential(tenant, conversations, base, args.samples))
            print(
                f"Sequential turns ({args.samples}), provider token delay {args.token_delay * 1000:.0f} ms:"
            )
            print(summary("provider TTFT (raw HTTP)", seq["provider"]))
            print(summary("LiteLLM TTFT (acompletion)", seq["litellm"]))
            print(summary("engine TTFT (message in -> token)", seq["engine"]))
            print(summary("added by us (engine - provider)", seq["added"]))
            print(f"  median added: {statistics.median(seq['added']):.2f} ms")
        if args.skip_concurrent:
            return
        conc = concurrent(tenant.schema_name, clocked, args)
        print(
            f"\n{args.concurrency} concurrent clients x {args.turns} turns on {args.processes} "
            f"process(es), started over {args.ramp:.1f} s; answers of {args.tokens} tokens, "
            f"{args.answer_token_delay * 1000:.0f} ms apart:"
        )
        print(f"  turns {conc['turns']}, errors {len(conc['errors'])} {conc['errors'][:3]}")
        print(summary("provider's own TTFT", conc["provider"]))
        print(summary("added TTFT (ours)", conc["added"]))
        print(summary("added inter-token gap (ours)", conc["gaps"]))
        print(f"  engine CPU seconds per process: {[round(c, 1) for c in conc['cpu_s']]}")
        print(
            f"  longest garbage-collector pause per process: {[round(g) for g in conc['gc_max_ms']]} ms"
        )
        print(json.dumps({"database": settings.DATABASES["default"]["HOST"]}))
    finally:
        proc.terminate()
        drop_tenant(tenant)


if __name__ == "__main__":
    main()
