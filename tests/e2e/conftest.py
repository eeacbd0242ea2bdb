"""Browser tests: a real daphne server on the test database, driven with real Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = BASE_DIR / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    # Playwright's sync API keeps an event loop running in this thread; the Django calls that
    # browser tests make here are ordinary blocking ones (Django's documented escape hatch).
    # Browser tests run last (tests/conftest.py), so nothing after them depends on the check.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def worker_process(server_port) -> Iterator[None]:
    """A real Celery worker process on the test database and this run's broker prefix."""
    import subprocess
    import sys
    import time

    from tests.conftest import server_process_env

    log_path = BASE_DIR / "var" / f"e2e-celery-{server_port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
                "--loglevel", "INFO", "--without-mingle", "--without-gossip",
                "--hostname", f"e2e-{server_port}@%h",
            ],
            cwd=BASE_DIR,
            env=server_process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while " ready." not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the Celery worker did not start; see {log_path}")
            time.sleep(0.3)
        yield
        proc.terminate()
        proc.wait(timeout=20)
