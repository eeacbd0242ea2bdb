"""One outbound HTTP request for a tool: pinned to validated addresses, capped, no surprises.

* The host is checked and resolved once (``netguard.check_destination``); the connection goes
  to the validated IP, with the original name as Host header and TLS SNI (certificates are
  verified against the name). The name is never resolved again, so DNS cannot change between
  the check and the connection.
* Redirects are not followed blindly: each hop is re-checked like the first; secret headers are
  dropped when a redirect changes host; at most ``MAX_REDIRECTS`` hops.
* Proxies from the environment are ignored (they would bypass the pinning).
* The body is streamed and the request is abandoned when it passes the size cap or the
  deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from apps.core.errors import AppError
from apps.tools.netguard import DestinationRefused, check_destination, parse_ip

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}


class HttpToolError(AppError):
    code = "http_failed"
    http_status = 502


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes
    url: str


def _pinned_url(scheme: str, ip: str, port: int, path: str, query: str) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return urlunsplit((scheme, f"{host}:{port}", path or "/", query, ""))


def _host_header(host: str, port: int, scheme: str) -> str:
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default else f"{shown}:{port}"


def fetch(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    secret_header_names: frozenset[str],
    body: bytes | None,
    allowed_hosts: list[str],
    allow_private: bool,
    timeout: float,
    max_bytes: int,
) -> HttpResponse:
    deadline = time.monotonic() + timeout
    headers = dict(headers)
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        if scheme not in ("http", "https"):
            raise DestinationRefused("Only http and https URLs are allowed.", code="scheme_refused")
        if parts.username or parts.password:
            raise DestinationRefused("Credentials in URLs are not allowed.", code="url_refused")
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise DestinationRefused("The URL has an invalid port.", code="url_refused") from None
        addresses = check_destination(
            host, port, allowed_hosts=allowed_hosts, allow_private=allow_private
        )
        response = _send_once(
            method=method,
            scheme=scheme,
            host=host,
            ip=addresses[0],
            port=port,
            path=parts.path,
            query=parts.query,
            headers=headers,
            body=body,
            deadline=deadline,
            max_bytes=max_bytes,
        )
        if isinstance(response, HttpResponse):
            return response
        location = response
        next_url = urljoin(url, location)
        next_host = (urlsplit(next_url).hostname or "").lower()
        if next_host != host.lower():
            headers = {k: v for k, v in headers.items() if k.lower() not in secret_header_names}
        if method.upper() not in ("GET", "HEAD"):
            method, body = "GET", None
        url = next_url
    raise HttpToolError(f"More than {MAX_REDIRECTS} redirects.", code="too_many_redirects")


def _send_once(
    *,
    method: str,
    scheme: str,
    host: str,
    ip: str,
    port: int,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
    deadline: float,
    max_bytes: int,
) -> HttpResponse | str:
    """One request to the pinned address: the response, or the Location of a redirect."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HttpToolError("The service did not answer in time.", code="http_timeout")
    request_headers = {**headers, "Host": _host_header(host, port, scheme)}
    extensions = {}
    if scheme == "https" and parse_ip(host) is None:
        extensions["sni_hostname"] = host
    try:
        with (
            httpx.Client(
                trust_env=False, follow_redirects=False, timeout=httpx.Timeout(remaining)
            ) as client,
            client.stream(
                method.upper(),
                _pinned_url(scheme, ip, port, path, query),
                headers=request_headers,
                content=body,
                extensions=extensions,
            ) as response,
        ):
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                return response.headers["location"]
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise HttpToolError(
                    f"The response is larger than {max_bytes} bytes.", code="response_too_large"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise HttpToolError(
                        f"The response is larger than {max_bytes} bytes.",
                        code="response_too_large",
                    )
                if time.monotonic() > deadline:
                    raise HttpToolError("The service did not answer in time.", code="http_timeout")
                chunks.append(chunk)
            return HttpResponse(
                status=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body=b"".join(chunks),
                url=f"{scheme}://{_host_header(host, port, scheme)}{path or '/'}",
            )
    except httpx.TimeoutException:
        raise HttpToolError("The service did not answer in time.", code="http_timeout") from None
    except httpx.ConnectError as exc:
        text = str(exc).lower()
        if "certificate" in text or "ssl" in text or "tls" in text:
            raise HttpToolError(
                "TLS failed: the service's certificate was not accepted.", code="tls_failed"
            ) from None
        raise HttpToolError(
            "Could not connect to the service.", code="connection_refused"
        ) from None
    except httpx.HTTPError:
        raise HttpToolError("The request to the service failed.", code="http_failed") from None
