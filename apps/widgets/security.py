"""Who may talk to a widget: page origins, and visitor identities signed by the tenant."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from apps.core.text import is_clean
from apps.widgets.models import Widget

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600


def _parts(origin: str) -> tuple[str, str, int] | None:
    try:
        parsed = urlsplit(origin.strip().lower())
        port = parsed.port if parsed.port is not None else DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname or not port:  # port 0: none
        return None
    if parsed.path not in ("", "/") or parsed.query or parsed.username:
        return None
    return parsed.scheme, parsed.hostname, port


def origin_allowed(widget: Widget, origin: str | None) -> bool:
    """Exact scheme, host and port; ``https://*.acme.com`` covers subdomains only if opted in."""
    if not origin:
        return False
    page = _parts(origin)
    if page is None:
        return False
    for allowed in widget.allowed_origins:
        wildcard = "://*." in allowed
        rule = _parts(allowed.replace("://*.", "://", 1) if wildcard else allowed)
        if rule is None or rule[0] != page[0] or rule[2] != page[2]:
            continue
        if rule[1] == page[1] and not wildcard:
            return True
        if wildcard and widget.allow_wildcard_subdomains and page[1].endswith("." + rule[1]):
            return True
    return False


HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_origin_rule(value: str) -> str:
    """Normalise an allowed-origin rule for storage; raises ValueError when it is not one.

    ``scheme://host[:port]``; a wildcard only as a leading ``*.`` over at least two labels
    (``https://*.acme.com``, never ``https://*.com``).
    """
    text = value.strip().lower().rstrip("/")
    wildcard = "://*." in text
    parts = _parts(text.replace("://*.", "://", 1))
    problem = f"'{value}' is not an origin such as https://shop.example.com"
    if parts is None or "*" in text.replace("://*.", "://", 1):
        raise ValueError(problem)
    labels = parts[1].split(".")
    if not all(HOST_LABEL_RE.match(label) for label in labels) and not _is_ip(parts[1]):
        raise ValueError(problem)
    if wildcard and len(labels) < 2:
        raise ValueError(f"'{value}': a wildcard must cover a domain such as https://*.acme.com")
    return text


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def identity_sign(widget: Widget, user_id: str) -> str:
    """What the tenant's backend computes: hex HMAC-SHA256 of the user id with the secret."""
    return hmac.new(widget.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IdentityCheck:
    user_id: str | None  # set only when verified
    claimed: bool  # the page sent an identity at all


def identity_verify(widget: Widget, identity: Any) -> IdentityCheck:
    """Verify ``{"user_id", "signature"}`` (HMAC) or ``{"token"}`` (HS256 JWT, with exp)."""
    if not identity:
        return IdentityCheck(None, False)
    if not isinstance(identity, dict):
        return IdentityCheck(None, True)
    if "token" in identity:
        try:
            claims = jwt.decode(
                str(identity["token"]),
                widget.identity_secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            logger.info("Widget %s: rejected identity token (%s)", widget.pk, type(exc).__name__)
            return IdentityCheck(None, True)
        issued = claims.get("iat")
        if isinstance(issued, int | float) and claims["exp"] - issued > MAX_TOKEN_LIFETIME_SECONDS:
            logger.info("Widget %s: rejected identity token with a lifetime over 24 h", widget.pk)
            return IdentityCheck(None, True)
        subject = str(claims["sub"])
        if not is_clean(subject):
            return IdentityCheck(None, True)
        return IdentityCheck(subject[:255], True)
    user_id, signature = identity.get("user_id"), identity.get("signature")
    if not isinstance(user_id, str | int) or not isinstance(signature, str) or not str(user_id):
        return IdentityCheck(None, True)
    if not is_clean(str(user_id)) or not signature.isascii():  # compare_digest needs ASCII
        return IdentityCheck(None, True)
    expected = identity_sign(widget, str(user_id))
    if hmac.compare_digest(expected, signature.lower()):
        return IdentityCheck(str(user_id)[:255], True)
    logger.info("Widget %s: ignored an identity claim with a bad signature", widget.pk)
    return IdentityCheck(None, True)
