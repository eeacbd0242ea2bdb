"""Fetching URLs for ingestion without letting a URL reach inside the network (SSRF).

For every hop (the first request and each redirect):
1. the URL must be http(s), with a host and no user name or password;
2. the host is resolved once, and *every* address it resolves to must be a public internet
   address: loopback, private, link-local (which includes the cloud metadata service at
   169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses are
   refused, as are IPv4 addresses hidden in IPv6 (mapped, 6to4, Teredo);
3. the connection goes to that validated address, with the name in the Host header and in TLS
   SNI (certificates are checked against the name), so DNS that changes between the check and
   the connection (rebinding) cannot redirect it;
4. redirects are followed by hand, at most ``MAX_REDIRECTS``, each one checked as above.
Bodies are read in a stream and stopped at a size limit (after content decoding, so a gzip
bomb stops too). Environment proxies are ignored: a proxy would defeat the address check.

Loopback is refused unless the caller allows it (``allow_loopback``: True, or a set of allowed
ports); private and link-local addresses are never allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from apps.knowledge.conf import setting
from apps.knowledge.errors import AddressRefused, IngestionError

USER_AGENT = "AIChatKnowledgeBot/1.0"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise IngestionError(
            f"The host name {host} could not be resolved.", code="fetch_failed"
        ) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    url: str  # as given (with the name)
    scheme: str
    host: str  # lower-case name or address literal, no brackets
    port: int
    path: str  # path + query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise IngestionError(f"The URL {url[:200]} is not valid.", code="invalid_url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngestionError(
            f"Only http and https URLs with a host can be fetched, not {url[:200]}.",
            code="invalid_url",
        )
    if parts.username or parts.password:
        raise IngestionError(
            "URLs with a user name or password are not fetched; remove the credentials.",
            code="invalid_url",
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        url=urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, "")),
        scheme=parts.scheme,
        host=parts.hostname.lower().rstrip("."),
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def check_address(
    address: str, *, port: int, allow_loopback: bool | Collection[int], host: str
) -> None:
    """Raise ``AddressRefused`` unless ``address`` is one the server may connect to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            check_address(str(inner), port=port, allow_loopback=allow_loopback, host=host)
            return
    named = f"{address} (the address of {host})" if host != address else address
    if ip.is_loopback:
        allowed = allow_loopback is True or (
            not isinstance(allow_loopback, bool) and port in allow_loopback
        )
        if allowed:
            return
        raise AddressRefused(
            f"Refused to fetch from {named}: it is a loopback address, this server itself.",
            address=address,
        )
    if ip.is_unspecified:
        raise AddressRefused(
            f"Refused to fetch from {named}: it is the unspecified address, which reaches "
            "this server itself; not a public internet address.",
            address=address,
        )
    if ip.is_link_local:
        raise AddressRefused(
            f"Refused to fetch from {named}: it is a link-local address (this includes the "
            "cloud metadata service at 169.254.169.254).",
            address=address,
        )
    if ip.is_private:
        raise AddressRefused(
            f"Refused to fetch from {named}: it is a private network address.", address=address
        )
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise AddressRefused(
            f"Refused to fetch from {named}: it is not a public internet address.",
            address=address,
        )


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    status: int
    content_type: str
    body: bytes


class SafeFetcher:
    """A small HTTP client that applies the checks above to every request and redirect."""

    def __init__(
        self,
        *,
        allow_loopback: bool | Collection[int] | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_loopback = (
            setting("KNOWLEDGE_FETCH_ALLOW_LOOPBACK") if allow_loopback is None else allow_loopback
        )
        self.max_bytes = max_bytes or setting("KNOWLEDGE_MAX_FETCH_BYTES")
        seconds = timeout or setting("KNOWLEDGE_FETCH_TIMEOUT_SECONDS")
        self.resolver = resolver or system_resolver
        self.client = httpx.Client(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    def __enter__(self) -> SafeFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, *, max_bytes: int | None = None) -> Fetched:
        """GET ``url`` following checked redirects; an HTTP error status raises."""
        limit = max_bytes or self.max_bytes
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = parse_target(current)
            status, location, content_type, body = self._request(target, limit)
            if status in REDIRECT_STATUSES and location:
                current = urljoin(target.url, location)
                continue
            if status >= 400:
                raise IngestionError(
                    f"The server answered {status} for {target.url[:300]}.",
                    code="http_error",
                    status=status,
                )
            return Fetched(url=target.url, status=status, content_type=content_type, body=body)
        raise IngestionError(
            f"More than {MAX_REDIRECTS} redirects starting at {url[:300]}.",
            code="too_many_redirects",
        )

    def resolve(self, target: Target) -> list[str]:
        try:
            addresses = [str(ipaddress.ip_address(target.host))]
        except ValueError:
            addresses = self.resolver(target.host, target.port)
        if not addresses:
            raise IngestionError(
                f"The host name {target.host} has no address.", code="fetch_failed"
            )
        for address in addresses:  # every one: a mixed answer must not slip through
            check_address(
                address, port=target.port, allow_loopback=self.allow_loopback, host=target.host
            )
        return addresses

    def _request(self, target: Target, limit: int) -> tuple[int, str, str, bytes]:
        addresses = self.resolve(target)
        last_error: Exception | None = None
        for address in addresses:
            literal = f"[{address}]" if ":" in address else address
            pinned = f"{target.scheme}://{literal}:{target.port}{target.path}"
            extensions = {}
            if target.scheme == "https" and target.host != address:
                extensions["sni_hostname"] = target.host
            try:
                request = self.client.build_request(
                    "GET", pinned, headers={"Host": target.host_header}, extensions=extensions
                )
                response = self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc
                continue
            except httpx.HTTPError as exc:
                raise _network_error(target, exc) from exc
            try:
                return (
                    response.status_code,
                    response.headers.get("location", ""),
                    response.headers.get("content-type", ""),
                    b""
                    if response.status_code in REDIRECT_STATUSES
                    else _read(response, target, limit),
                )
            except httpx.HTTPError as exc:
                raise _network_error(target, exc) from exc
            finally:
                response.close()
        raise _network_error(target, last_error)


def _read(response: httpx.Response, target: Target, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(target, limit)
    body = bytearray()
    for piece in response.iter_bytes():
        body.extend(piece)
        if len(body) > limit:
            raise _too_large(target, limit)
    return bytes(body)


def _too_large(target: Target, limit: int) -> IngestionError:
    return IngestionError(
        f"{target.url[:300]} is larger than the {limit / 2**20:,.0f} MB allowed for one page.",
        code="file_too_large",
    )


def _network_error(target: Target, exc: Exception | None) -> IngestionError:
    kind = type(exc).__name__ if exc else "no address answered"
    return IngestionError(f"Could not fetch {target.url[:300]}: {kind}.", code="fetch_failed")
