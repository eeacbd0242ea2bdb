"""`make run`: the whole product on one machine, from a fresh clone.

Starts (or finds) the embedded PostgreSQL and a Redis, migrates and seeds the demo tenant (in
one process), then runs daphne (HTTP + WebSocket) and, once daphne listens, a Celery worker,
until Ctrl-C, which stops all of them.

Redis, in order: REDIS_URL when set; a Redis answering on 127.0.0.1:6379; a `redis-server`
started under var/; else the single-node fallback (filesystem broker, in-memory channel
layer, file cache), logged loudly, with background work still done by a separate worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
RUNTIME_ENV = VAR_DIR / "runtime.env"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


FALLBACK_WARNING = (
    "WARNING: no Redis. Using the single-node fallback: a filesystem Celery broker under "
    "var/broker, an in-memory channel layer and a file cache. Background work still runs in "
    "a separate worker. Use Redis for anything beyond one node."
)


def _redis_answers(host: str, port: int | None = None, unix: str | None = None) -> bool:
    try:
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(0.5)
            sock.connect(unix)
        else:
            sock = socket.create_connection((host, port or 6379), timeout=0.5)
        with sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def resolve_redis(children: list[subprocess.Popen]) -> str:
    """Return the REDIS_URL to use ('off' for the fallback), starting redis-server if needed."""
    configured = os.environ.get("REDIS_URL")
    if configured and configured != "off":
        log(f"Redis: using REDIS_URL ({configured.split('@')[-1]})")
        return configured
    if configured == "off":
        log(FALLBACK_WARNING)
        return "off"
    if _redis_answers("127.0.0.1", 6379):
        log("Redis: found one on 127.0.0.1:6379")
        return "redis://127.0.0.1:6379/0"
    server = shutil.which("redis-server")
    if server:
        run_dir = VAR_DIR / "redis"
        run_dir.mkdir(parents=True, exist_ok=True)
        sock = run_dir / "redis.sock"
        children.append(
            subprocess.Popen(  # noqa: S603
                [server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                 "--dir", str(run_dir), "--save", "", "--appendonly", "no",
                 "--logfile", str(run_dir / "redis.log")],
                start_new_session=True,
            )
        )  # fmt: skip
        for _ in range(50):
            if _redis_answers("", unix=str(sock)):
                log(f"Redis: started redis-server on {sock}")
                return f"unix://{sock}?db=0"
            time.sleep(0.1)
        log("Redis: redis-server did not answer; falling back")
    log(FALLBACK_WARNING)
    return "off"


def prepare() -> None:
    """Migrate every schema, then seed the demo tenant, in one process (one Django start-up)."""
    subprocess.run([PYTHON, "-m", "config.launcher", "--prepare"], cwd=BASE_DIR, check=True)  # noqa: S603


def _prepare_here() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate_schemas", executor="standard", verbosity=0)
    call_command("seed_demo", quiet=True)


def wait_listening(port: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``process`` accepts connections on ``port`` (or exits, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(port)), 0.2):
            return
        time.sleep(0.1)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    VAR_DIR.mkdir(exist_ok=True)
    port = os.environ.get("PORT", "8000")
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log("stopping…")
        for child in reversed(children):
            if child.poll() is None:
                # The main process only: Celery then stops its own pool (a warm shutdown).
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        RUNTIME_ENV.unlink(missing_ok=True)
        if not os.environ.get("DATABASE_URL"):
            from config.embedded_db import stop_embedded_server

            if stop_embedded_server(VAR_DIR):
                log("embedded PostgreSQL stopped")
        log("stopped.")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        redis_url = resolve_redis(children)
        os.environ["REDIS_URL"] = redis_url
        RUNTIME_ENV.write_text(f"REDIS_URL={redis_url}\n")
        if not os.environ.get("DATABASE_URL"):
            from config.embedded_db import ensure_embedded_server

            server = ensure_embedded_server(VAR_DIR)
            log(f"PostgreSQL: embedded server in var/pgdata (socket {server.socket_dir})")
        prepare()
        web = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", port, "config.asgi:application"],
            cwd=BASE_DIR, start_new_session=True,
        )  # fmt: skip
        children.append(web)
        # The worker starts once the web server listens: on a small machine the two start-ups
        # would share the cores, and the product is usable before the worker is (queued tasks
        # wait for it in the broker).
        wait_listening(port, web)
        children.append(
            subprocess.Popen(  # noqa: S603
                # -B: the beat scheduler (URL source re-sync) inside the one local worker.
                [PYTHON, "-m", "celery", "-A", "config.celery:app", "worker",
                 "--loglevel", "INFO", "--concurrency", "2", "--hostname", "local@%h",
                 "-B", "--schedule", str(VAR_DIR / "celerybeat-schedule")],
                cwd=BASE_DIR, start_new_session=True,
            )
        )  # fmt: skip
        print(
            "\n"
            f"  AI Chat is starting on http://127.0.0.1:{port}\n\n"
            f"  Backoffice (demo tenant): http://demo.localhost:{port}/\n"
            "      login: demo@example.com / demo-password\n"
            f"  Platform admin:           http://localhost:{port}/admin/\n"
            "      login: admin@example.com / admin-password\n"
            f"  Health:                   http://127.0.0.1:{port}/readyz\n\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [child.args for child in children if child.poll() is not None]
        log(f"a process exited: {failed[0]!r}")
        return 1
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        log(f"step failed: {' '.join(map(str, exc.cmd))}")
        return 1
    finally:
        stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--prepare"]:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        _prepare_here()
        sys.exit(0)
    sys.exit(main())
