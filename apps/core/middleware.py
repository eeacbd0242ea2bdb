"""Middleware that must run before tenant resolution."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


class NulQueryMiddleware:
    """Refuse a query string carrying a NUL character (``%00``) with a 400.

    No parameter means anything with one, and PostgreSQL cannot compare text with it: a list
    filtered by such a value was a 500. (Form and JSON bodies are checked field by field.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query or "\x00" in request.path:
            from apps.core.views import api_error

            message = "The address contains a NUL character."
            return api_error(request, 400, "invalid_query", message) or HttpResponseBadRequest(
                message, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


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
