"""Container health probe: exit 0 when ``GET http://127.0.0.1:8000<path>`` answers 200.

The image's HEALTHCHECK runs it for ``/healthz`` (the process is alive) and compose's ``web``
service for ``/readyz`` (database, Redis and broker reachable). Standard library only, so the
runtime image needs no curl.

The request carries ``Host: $PUBLIC_HOST``: Django rejects a host missing from ALLOWED_HOSTS, and
the platform host is always allowed. A redirect counts as a failure rather than being followed.
"""

from __future__ import annotations

import http.client
import os
import sys

PORT = 8000
TIMEOUT_S = 5.0


def probe(path: str, port: int = PORT) -> tuple[bool, str]:
    """Request ``path`` from the local server; (healthy, one line to show in `docker inspect`)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    host = os.environ.get("PUBLIC_HOST") or "localhost"
    try:
        connection.request("GET", path, headers={"Host": host, "Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(500).decode("utf-8", "replace")
    except OSError as exc:
        return False, f"GET {path}: {type(exc).__name__}: {exc}"
    finally:
        connection.close()
    return response.status == 200, f"GET {path} (Host: {host}): {response.status} {body}"


def main(argv: list[str]) -> int:
    healthy, line = probe(argv[1] if len(argv) > 1 else "/healthz")
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
