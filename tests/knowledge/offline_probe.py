"""Run by test_offline.py in a fresh process: block the network *before* anything is imported,
then ingest every file type, retrieve, and report attempts and peak memory as JSON.

Usage: python -m tests.knowledge.offline_probe WORKDIR (env: DJANGO_SETTINGS_MODULE,
TEST_SERVER_DATABASE_NAME).
"""

from __future__ import annotations

import ipaddress
import json
import resource
import socket
import sys
from pathlib import Path

ATTEMPTS: list[str] = []
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _loopback(host: object) -> bool:
    if host is None or host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(sock: socket.socket, address: object) -> object:
    if sock.family != socket.AF_UNIX and not _loopback(
        address[0] if isinstance(address, tuple) else address
    ):
        ATTEMPTS.append(f"connect {address}")
        raise OSError("network blocked")
    return _connect(sock, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if not _loopback(host):
        ATTEMPTS.append(f"resolve {host}")
        raise socket.gaierror("network blocked")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


def main(workdir: Path) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django_tenants.utils import tenant_context

    from apps.knowledge import selectors, services
    from apps.tenants.models import Tenant
    from tests.knowledge import documents as d
    from tests.knowledge.test_source_ingest_hostile import CONTENT_TYPES

    settings.MEDIA_ROOT = workdir / "media"
    text = "Employees receive twenty five days of paid vacation every calendar year."
    files = {
        "a.pdf": d.make_text_pdf([["Holidays", "", text]]),
        "b.docx": d.make_docx([("Holidays", [text])]),
        "c.pptx": d.make_pptx([("Holidays", text)]),
        "d.xlsx": d.make_xlsx({"Leave": [["Kind", "Days"], ["Vacation", 25]]}),
        "e.csv": b"kind,days\nvacation,25\n",
        "f.md": f"# Holidays\n\n{text}\n".encode(),
        "g.html": f"<html><body><h1>Holidays</h1><p>{text}</p></body></html>".encode(),
        "h.txt": f"Holidays\n\n{text}\n".encode(),
    }
    report: dict = {}
    with tenant_context(Tenant.objects.get(slug="alpha")):
        kb = services.knowledge_base_create(name=f"Offline probe {workdir.name}")
        try:
            for name, data in files.items():
                (workdir / name).write_bytes(data)
            write_zip_bomb(workdir / "bomb.docx", CONTENT_TYPES)
            for name in [*files, "bomb.docx"]:
                if name == "bomb.docx":
                    report["before_bomb"] = memory_status()
                path = workdir / name
                source = services.source_create_file(
                    knowledge_base=kb, uploaded_file_or_path=path, queue=False
                )
                services.source_ingest(source_id=source.id)
                source.refresh_from_db()
                report[name] = [source.status, source.error_code, source.chunk_count]
            result = selectors.knowledge_retrieve(
                query="how many holiday days?", knowledge_base_ids=[kb.id]
            )
            report["retrieved"] = len(result.chunks)
        finally:
            services.knowledge_base_delete(knowledge_base=kb)
    report["attempts"] = ATTEMPTS
    report["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.update(memory_status())
    return report


def write_zip_bomb(path: Path, content_types: bytes) -> None:
    """A .docx whose document part expands to 60 MB, written without holding it in memory."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        with archive.open("word/document.xml", "w") as part:
            for _ in range(60):
                part.write(b" " * (1024 * 1024))


def memory_status() -> dict[str, float]:
    """Resident memory now: anonymous (this process's own) and file-backed (shared libraries,
    shared with every other process that maps them)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


if __name__ == "__main__":
    print("PROBE " + json.dumps(main(Path(sys.argv[1]))))
