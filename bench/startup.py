"""Time from `make run` to a 200 on /readyz, for a cold and then a warm (second) start.

Each run is stopped with SIGINT (Ctrl-C), and the benchmark checks that it exits cleanly.
Usage: python -m bench startup [--runs N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(port: int) -> tuple[float, float, int]:
    env = {**os.environ, "PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while not ready(port):
        if proc.poll() is not None:
            raise RuntimeError(f"make run exited with {proc.returncode} before /readyz")
        if time.perf_counter() - started > 300:
            raise RuntimeError("no 200 on /readyz within 300 s")
        time.sleep(0.05)
    to_ready = time.perf_counter() - started
    stop_at = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=60)
    return to_ready, time.perf_counter() - stop_at, code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args()
    results = [one_run(PORT) for _ in range(args.runs + 1)]
    first, warm = results[0], results[1:]
    print(
        f"first start to /readyz 200: {first[0]:.2f} s (stop took {first[1]:.2f} s, exit {first[2]})"
    )
    ready_times = [r[0] for r in warm]
    print(
        f"warm starts ({len(warm)}): median {statistics.median(ready_times):.2f} s, "
        f"max {max(ready_times):.2f} s; stops: max {max(r[1] for r in warm):.2f} s, "
        f"exit codes {sorted({r[2] for r in warm})}"
    )


if __name__ == "__main__":
    main()
