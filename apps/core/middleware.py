"""Middleware that must run before tenant resolution."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class LivenessMiddleware:
    """Answer ``/healthz`` before anything touches the database (even the host lookup).

    A liveness probe must say whether this process serves, not whether PostgreSQL does;
    that is ``/readyz``'s job.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            response = JsonResponse({"status": "ok"})
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
