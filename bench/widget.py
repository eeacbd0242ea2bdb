"""Widget figures: script size, time to a visible launcher, and many live sessions.

- size: bytes of static/widget.js, gzipped at level 9;
- launcher: in headless Chromium, from the end of the script's download (it executes right
  after) to the launcher having a size on screen, median of several page loads;
- sessions: N concurrent widget WebSockets against a real daphne (subprocess, development
  database, a throwaway tenant whose model is the loopback fake provider in its own process);
  all connect and say hello, then each asks one question, the questions spread evenly over
  ``--ramp`` seconds, and reads the streamed answer. The provider's ``clock`` model stamps each
  token with its send time (bench/clock.py), so what we add (time to first token, gap between
  tokens) is measured per token. Reports dropped sessions and the most answers streaming at once;
- idle memory: daphne's RSS growth per idle connection (hello done, nothing streaming).

Usage: python -m bench widget [--sessions 1000] [--tokens 100] [--token-delay 0.1] [--nodes 2]
       [--ramp 60] [--skip-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
        if ordered
        else float("nan")
    )


def size() -> None:
    body = (BASE_DIR / "static" / "widget.js").read_bytes()
    print(f"widget.js: {len(body)} bytes, {len(gzip.compress(body, 9))} bytes gzipped (-9)")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launcher(loads: int = 15) -> None:
    import http.server
    import threading
    from functools import partial

    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp())
    shutil.copy(BASE_DIR / "static" / "widget.js", root / "widget.js")
    (root / "index.html").write_text(
        '<!doctype html><html lang="en"><body><h1>Host page</h1>'
        '<script src="/widget.js" data-key="ek_bench"></script></body></html>'
    )
    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = """() => new Promise(done => {
        const entry = performance.getEntriesByType('resource').find(e => e.name.endsWith('/widget.js'));
        const tick = () => {
            const r = document.querySelector('#aichat-root');
            const l = r && r.shadowRoot && r.shadowRoot.querySelector('.launcher');
            const box = l && l.getBoundingClientRect();
            if (box && box.width > 0 && box.height > 0) done(performance.now() - entry.responseEnd);
            else requestAnimationFrame(tick);
        };
        tick();
    })"""
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        for _ in range(loads):
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/index.html")
            times.append(page.evaluate(probe))
            page.close()
        browser.close()
    server.shutdown()
    print(
        f"launcher visible after script load: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (n={loads})"
    )


def setup(provider_base: str, model: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django_tenants.utils import tenant_context

    from apps.llm import services as llm
    from apps.tenants.services import tenant_create
    from apps.widgets.services import widget_create

    slug = f"bench-widget-{uuid.uuid4().hex[:6]}"
    created = tenant_create(
        slug=slug,
        name="Bench widget",
        domain=f"{slug}.localhost",
        owner_email=f"o-{slug}@bench.test",
    )
    with tenant_context(created.tenant):
        provider = llm.provider_create(
            name="fake", kind="openai_compatible", api_base=f"{provider_base}/v1"
        )
        llm.deployment_create(provider=provider, model_name=model, alias="chat")
        llm.assistant_create(name="Bench", default_model="chat", is_default=True)
        widget = widget_create(name="Bench", allowed_origins=["https://bench.example"])
    return created.tenant, widget.embed_key


def teardown(tenant) -> None:
    from django.db import connection

    from apps.accounts.models import User
    from apps.tenants.models import Tenant

    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
    Tenant.objects.filter(pk=tenant.pk).delete()
    User.objects.filter(email__endswith="@bench.test").delete()


def wait_for_ports(ports: list[int], timeout: float = 60) -> None:
    """Until every daphne accepts connections (start-up imports LiteLLM, a few seconds)."""
    import socket

    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne on {port} did not start") from None
                time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def session(
    port: int,
    key: str,
    results: dict,
    idle: asyncio.Event | None = None,
    ask_at: float | None = None,
) -> None:
    """One visitor: hello, then either wait (``idle``) or ask at ``ask_at`` and read the answer.

    A reader task receives all the time (aiohttp answers daphne's pings only inside
    ``receive()``), so a visitor who waits a minute before asking is not dropped for silence.
    """
    import aiohttp

    from bench.clock import TokenClock

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"ws://127.0.0.1:{port}/ws/widget/?key={key}",
            headers={"Origin": "https://bench.example"},
            max_msg_size=0,
        ) as ws,
    ):
        inbox: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            async for msg in ws:
                inbox.put_nowait((time.monotonic(), json.loads(msg.data)))
            inbox.put_nowait((time.monotonic(), {"type": "closed"}))

        reader = asyncio.create_task(read())
        try:
            await ws.send_str(
                json.dumps({"type": "aichat.hello", "session_id": None, "identity": None})
            )
            welcome = (await asyncio.wait_for(inbox.get(), 60))[1]
            assert welcome["type"] == "aichat.welcome", welcome
            if idle is not None:
                results["idle"] += 1
                await idle.wait()
                return
            if ask_at is not None:
                await asyncio.sleep(max(0.0, ask_at - time.monotonic()))
            clock = TokenClock()
            sent = time.monotonic()
            await ws.send_str(
                json.dumps(
                    {"type": "aichat.message", "client_id": str(uuid.uuid4()), "text": "hello"}
                )
            )
            first = None
            results["streaming"] += 1
            results["peak"] = max(results["peak"], results["streaming"])
            try:
                while True:
                    now, frame = await asyncio.wait_for(inbox.get(), 120)
                    if frame["type"] == "aichat.delta":
                        first = first or now
                        clock.feed(frame["text"], now)
                    elif frame["type"] == "aichat.done":
                        break
                    elif frame["type"] in ("aichat.error", "closed"):
                        raise RuntimeError(frame)
            finally:
                results["streaming"] -= 1
            if first is None:
                raise RuntimeError("no tokens")
            results["ttft"].append((clock.added_ttft_ms(sent, first), sent, port))
            results["gaps"].extend(clock.added_gaps_ms())
            results["ok"] += 1
        finally:
            reader.cancel()


def sessions(count: int, tokens: int, token_delay: float, nodes: int, ramp: float) -> None:
    provider_port = free_port()
    provider = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.llm_server",
            "--port",
            str(provider_port),
            "--token-delay",
            str(token_delay),
            "--tokens",
            str(tokens),
        ],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    provider.stdout.readline()  # type: ignore[union-attr]
    model = f"clock-{tokens}-{round(token_delay * 1000)}"
    tenant, key = setup(f"http://127.0.0.1:{provider_port}", model)
    env = {
        **os.environ,
        "WIDGET_CONNECTIONS_PER_IP": "1000000",
        "WIDGET_MESSAGES_PER_IP": "1000000",
        "WIDGET_MESSAGES_PER_WIDGET": "1000000",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    ports = [free_port() for _ in range(nodes)]
    daphnes = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=open(BASE_DIR / "var" / f"bench-daphne-{port}.log", "w"),  # noqa: SIM115
        )
        for port in ports
    ]  # fmt: skip
    try:
        wait_for_ports(ports)

        async def run_idle() -> None:
            before = sum(rss_kb(d.pid) for d in daphnes)
            idle = asyncio.Event()
            results = {"idle": 0}
            tasks = [
                asyncio.create_task(session(ports[i % nodes], key, results, idle))
                for i in range(count)
            ]
            while results["idle"] < count and not all(t.done() for t in tasks):
                await asyncio.sleep(0.5)
            after = sum(rss_kb(d.pid) for d in daphnes)
            print(
                f"idle connections: {results['idle']}/{count}, daphne RSS +{(after - before) / max(1, results['idle']):.1f} KiB per connection"
            )
            idle.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        async def run_streams() -> None:
            results = {"ok": 0, "ttft": [], "gaps": [], "streaming": 0, "peak": 0}
            started = time.monotonic()
            watched = {"daphne": [d.pid for d in daphnes], "provider": [provider.pid]}
            cpu_before = {n: sum(cpu_seconds(p) for p in pids) for n, pids in watched.items()}
            client_before = time.process_time()
            # The load client's own garbage collections (1,000 sockets, 100,000 samples) would
            # stall every reader at once and be counted as ours: none during the measurement.
            gc.collect()
            gc.disable()
            # Everyone connects first; question i is asked at i * ramp / count after that.
            begin = started + 5 + count / 200
            outcomes = await asyncio.gather(
                *(
                    session(ports[i % nodes], key, results, ask_at=begin + i * ramp / count)
                    for i in range(count)
                ),
                return_exceptions=True,
            )
            gc.enable()
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            print(
                f"{count} concurrent sessions on {nodes} daphne node(s), questions over {ramp:.0f} s, "
                f"answers of {tokens} tokens {token_delay * 1000:.0f} ms apart: "
                f"{results['ok']} complete, {len(errors)} dropped, "
                f"at most {results['peak']} answers streaming at once, "
                f"{time.monotonic() - started:.1f} s"
            )
            if errors:
                print(f"  first error: {errors[0]!r}")
            cpu = {
                n: sum(cpu_seconds(p) for p in pids) - cpu_before[n] for n, pids in watched.items()
            }
            print(
                f"  CPU seconds: daphne {cpu['daphne']:.0f} (all nodes), provider {cpu['provider']:.0f}, "
                f"load client {time.process_time() - client_before:.0f}"
            )
            ttft = [added for added, _sent, _port in results["ttft"]]
            worst = sorted(results["ttft"])[-8:]
            print(
                "  slowest first tokens (added ms @ s into the run, node port): "
                + ", ".join(f"{w:.0f} @ {t - started:.1f} s, {p}" for w, t, p in worst)
            )
            print(
                f"  added time to first token: p50 {pct(ttft, 50):.1f} ms, "
                f"p99 {pct(ttft, 99):.1f} ms"
            )
            print(
                f"  added inter-token gap (ours, from the provider's stamps): "
                f"p50 {pct(results['gaps'], 50):.1f} ms, p90 {pct(results['gaps'], 90):.1f} ms, "
                f"p99 {pct(results['gaps'], 99):.1f} ms (n={len(results['gaps'])})"
            )

        async def warm_up() -> None:
            # First turns import LiteLLM and build the tenant's router in each node.
            results = {"ok": 0, "ttft": [], "gaps": [], "streaming": 0, "peak": 0}
            for i in range(2 * nodes):
                await session(ports[i % nodes], key, results)

        asyncio.run(warm_up())
        asyncio.run(run_idle())
        asyncio.run(run_streams())
    finally:
        for d in daphnes:
            d.terminate()
        provider.terminate()
        teardown(tenant)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--token-delay", type=float, default=0.1)
    parser.add_argument("--nodes", type=int, default=2, help="daphne processes (one per core)")
    parser.add_argument(
        "--ramp", type=float, default=60.0, help="seconds over which the questions are asked"
    )
    parser.add_argument("--skip-browser", action="store_true")
    args, _ = parser.parse_known_args()
    size()
    if not args.skip_browser:
        launcher()
    sessions(args.sessions, args.tokens, args.token_delay, args.nodes, args.ramp)


if __name__ == "__main__":
    main()
