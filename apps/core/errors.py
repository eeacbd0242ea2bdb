"""One exception hierarchy with stable, machine-readable codes.

Services raise these; the DRF exception handler, the HTMX views, the WebSocket consumers and
the management commands map them to HTTP statuses, close codes and exit codes in one place
each. ``message`` is safe to show to a person; it never carries a secret or a traceback.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(AppError):
    code = "invalid_input"
    http_status = 400


class NotFound(AppError):
    """Also used for "forbidden": existence must never leak across tenants."""

    code = "not_found"
    http_status = 404


class PermissionDenied(AppError):
    code = "permission_denied"
    http_status = 403


class Conflict(AppError):
    code = "conflict"
    http_status = 409


class RateLimited(AppError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any):
        super().__init__(message, **details)
        self.retry_after = retry_after


class Unavailable(AppError):
    code = "unavailable"
    http_status = 503
