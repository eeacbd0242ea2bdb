"""Two processes asking for the embedded database at once get one server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path
from config.embedded_db import ensure_embedded_server
import psycopg
server = ensure_embedded_server(Path(sys.argv[1]), dbname="probe")
with psycopg.connect(server.conninfo("probe")) as conn:
    print(conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()[0])
"""


def test_concurrent_starts_share_one_server_and_stop_cleanly():
    from config.embedded_db import _running_server, stop_embedded_server

    var_dir = BASE_DIR / "var" / f"embedded-test-{uuid.uuid4().hex[:8]}"
    var_dir.mkdir(parents=True)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, str(var_dir)],
                cwd=BASE_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
        start_times = {out.strip() for out, _ in outputs}
        assert len(start_times) == 1  # one postmaster served all three
        assert _running_server(var_dir / "pgdata") is not None
        assert stop_embedded_server(var_dir) is True
        assert _running_server(var_dir / "pgdata") is None
    finally:
        stop_embedded_server(var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)
