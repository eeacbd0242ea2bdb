"""Session expiry: idle (SESSION_COOKIE_AGE) and absolute (SESSION_MAX_AGE).

Django ends a session SESSION_COOKIE_AGE seconds after it was last saved. Activity keeps a
signed-in session alive by saving it again, at most once a minute (not on every request, which
would cost a database write per HTMX poll). Whatever the activity, a sign-in ends
SESSION_MAX_AGE seconds after it began.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

SIGNED_IN_AT = "accounts.signed_in_at"
LAST_SEEN_AT = "accounts.last_seen_at"
ACTIVITY_RESOLUTION = 60  # seconds: how stale the idle clock may get before it is saved


def session_mark_signed_in(request: HttpRequest) -> None:
    """Start the session's lifetime now (called at every sign-in)."""
    if hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN_AT] = now


def on_user_logged_in(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None:
        session_mark_signed_in(request)


class SessionLifetimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            started = request.session.get(SIGNED_IN_AT)
            if started is None:  # a session from before these checks existed
                session_mark_signed_in(request)
            elif now - float(started) > settings.SESSION_MAX_AGE:
                logout(request)
                messages.info(request, "Your session has ended. Please sign in again.")
                if request.headers.get("HX-Request") == "true":
                    return HttpResponseClientRedirect(resolve_url(settings.LOGIN_URL))
                return redirect_to_login(request.get_full_path())
            elif now - float(request.session.get(LAST_SEEN_AT, 0)) > ACTIVITY_RESOLUTION:
                # Modifying the session saves it, which pushes its expiry (and the cookie's)
                # SESSION_COOKIE_AGE seconds into the future.
                request.session[LAST_SEEN_AT] = now
        return self.get_response(request)
