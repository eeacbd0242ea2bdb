"""The widget protocol's error frame (docs/widget-protocol.md), one shape for the WebSocket,
the HTTP fallback and the error pages of /widget/api/ addresses."""

from __future__ import annotations

from typing import Any


def error_payload(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """``aichat.error`` with its code; ``retry_after``, ``client_id`` and ``message_id`` when
    known, else null."""
    return {
        "type": "aichat.error",
        "code": code,
        "message": message,
        "retry_after": extra.get("retry_after"),
        "client_id": extra.get("client_id"),
        "message_id": extra.get("message_id"),
    }
