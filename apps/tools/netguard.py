"""Where an outbound HTTP tool call may go: allowed hosts, public addresses, never metadata.

A destination is checked by name (it must match the tool's allowed hosts, and never be a cloud
metadata name), then resolved once with ``resolve_host``; every resolved address is checked
(metadata: always refused; private, loopback, link-local, ULA, CGNAT, multicast, reserved:
refused unless the tool allows the private network). The caller then connects to one of the
returned addresses, never resolving the name again (no DNS rebinding between check and use).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from apps.core.errors import AppError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
     "instance-data.ec2.internal", "metadata.azure.com", "metadata.platformequinix.com"}
)  # fmt: skip
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(AppError):
    code = "host_not_allowed"
    http_status = 403


def resolve_host(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (tests replace this function, never ``socket``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def classify_ip(ip: IPAddress) -> str:
    """'metadata', 'private' (anything not globally routable) or 'public'."""
    candidates = [ip, *_embedded_ipv4(ip)]
    if any(c in METADATA_ADDRESSES for c in candidates):
        return "metadata"
    for candidate in candidates:
        if (
            not candidate.is_global
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
        ):
            return "private"
    return "public"


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    ip = parse_ip(host)
    return str(ip) if ip is not None else host


def is_metadata_host(host: str) -> bool:
    name = normalise_host(host)
    ip = parse_ip(name)
    if ip is not None:
        return classify_ip(ip) == "metadata"
    return name in METADATA_HOSTS


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Exact names or IPs, or ``*.example.com`` for any subdomain (not the apex itself)."""
    name = normalise_host(host)
    for pattern in allowed_hosts:
        pattern = normalise_host(pattern)
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def check_destination(
    host: str, port: int, *, allowed_hosts: Iterable[str], allow_private: bool
) -> list[str]:
    """Validate a destination and return the addresses to connect to (all validated)."""
    name = normalise_host(host)
    if not name:
        raise DestinationRefused("The URL has no host.")
    if is_metadata_host(name):
        raise DestinationRefused(
            "Cloud metadata addresses are never reachable from tools.", code="metadata_refused"
        )
    if not host_allowed(name, allowed_hosts):
        raise DestinationRefused(f"The host '{name}' is not on this tool's allowed hosts.")
    literal = parse_ip(name)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve_host(name, port)
        except (OSError, UnicodeError):
            raise DestinationRefused(
                f"DNS: the host name '{name}' does not resolve.", code="dns_failed"
            ) from None
    if not addresses:
        raise DestinationRefused(f"DNS: the host name '{name}' has no address.", code="dns_failed")
    for address in addresses:
        ip = parse_ip(address)
        if ip is None:
            raise DestinationRefused("DNS returned something that is not an address.")
        kind = classify_ip(ip)
        if kind == "metadata":
            raise DestinationRefused(
                "Cloud metadata addresses are never reachable from tools.",
                code="metadata_refused",
            )
        if kind == "private" and not allow_private:
            raise DestinationRefused(
                f"The host '{name}' resolves to a private or internal address; an admin must "
                "allow the private network for this tool.",
                code="private_address_refused",
            )
    return addresses
