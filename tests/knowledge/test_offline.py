"""Ingestion and retrieval work with no network at all, from a fresh process: no model,
NLP data or telemetry is fetched, and a ZIP bomb does not grow the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from apps.knowledge.offline import OFFLINE_ENVIRONMENT

BASE_DIR = Path(__file__).resolve().parents[2]


def test_fresh_process_ingests_every_type_with_the_network_blocked(db, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENVIRONMENT}  # the app sets them
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    env["TEST_SERVER_DATABASE_NAME"] = settings.DATABASES["default"]["NAME"]
    result = subprocess.run(
        [sys.executable, "-m", "tests.knowledge.offline_probe", str(tmp_path)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    report = json.loads(lines[-1][len("PROBE ") :])
    assert report["attempts"] == []
    for name in ("a.pdf", "b.docx", "c.pptx", "d.xlsx", "e.csv", "f.md", "g.html", "h.txt"):
        status, code, chunks = report[name]
        assert (status, chunks > 0) == ("ready", True), (name, code)
    assert report["bomb.docx"][:2] == ["failed", "decompression_bomb"]
    assert report["retrieved"] > 0
    # Resident memory is the process's own (anonymous) memory plus pages of shared libraries
    # (torch's CUDA build alone maps ~0.3 GB of them), which every worker shares.
    assert report["RssAnon"] < 1024
    assert report["VmHWM"] - report["before_bomb"]["VmHWM"] < 64  # the bomb added nothing big
