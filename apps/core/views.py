"""Process-level endpoints (health) and the error pages every host shares."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import run_readiness_checks


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and broker reachable: 200, else 503 with the failing check named."""
    results = run_readiness_checks()
    ready = all(result.ok for result in results)
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {result.name: result.as_dict() for result in results},
    }
    return JsonResponse(body, status=200 if ready else 503)


def platform_home(request: HttpRequest) -> HttpResponse:
    """The platform host's landing page: where operators and tenant staff go next."""
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/platform_home.html")


def api_error(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse | None:
    """The JSON error body for a request to one of the APIs, in that API's own shape, or None
    for a page (which gets the HTML error page). Programs never get an HTML error."""
    path = request.path
    if path.startswith("/v1/"):  # OpenAI's shape, which the official clients parse
        type_ = "invalid_request_error" if status < 500 else "api_error"
        error = {"message": message, "type": type_, "param": None, "code": code}
        return JsonResponse({"error": error}, status=status)
    if path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    if path.startswith("/widget/api/"):
        from apps.widgets.protocol import error_payload  # the widget protocol's own shape

        return JsonResponse(error_payload(code, message), status=status)
    return None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return api_error(request, 404, "not_found", "Nothing here.") or render(
        request, "errors/404.html", status=404
    )


def server_error(request: HttpRequest) -> HttpResponse:
    # Render without context processors that could themselves fail.
    connection.close_if_unusable_or_obsolete()
    return api_error(request, 500, "internal_error", "Something went wrong on our side.") or (
        render(request, "errors/500.html", status=500)
    )
