"""Backoffice pages for a tenant's chat widgets (mounted at /widgets/ on the tenant host).

Admins and owners only: viewers, agents and outsiders get the same 404 page, so nothing leaks.
The page edits the display settings, the assistant and the allowed origins, shows the embed
snippet and a live preview (an iframe on this host running the real ``/widget.js``), and
manages the identity secret, which is shown only on an explicit, audited "Reveal".
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin

from apps.audit.services import audit_record
from apps.core.errors import AppError, NotFound
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView
from apps.widgets.forms import WidgetSettingsForm, add_service_error
from apps.widgets.models import Widget
from apps.widgets.security import origin_allowed
from apps.widgets.selectors import widget_public_config
from apps.widgets.services import widget_secret_rotate, widget_update

# Settings whose change is recorded in the audit log (by name; the values are in the widget).
AUDITED_FIELDS = (
    "title", "greeting", "starter_questions", "primary_color", "text_on_primary_color",
    "logo_url", "position", "launcher_icon", "dark_mode", "language", "show_sources",
    "is_enabled", "allow_wildcard_subdomains", "allowed_origins", "assistant_id",
)  # fmt: skip


def widget_get(pk: Any) -> Widget:
    """A widget of the current tenant; another tenant's id is simply not found."""
    widget = Widget.objects.select_related("assistant").filter(pk=pk).first()
    if widget is None:
        raise NotFound("No such widget.", code="widget_not_found")
    return widget


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _snapshot(widget: Widget) -> dict[str, Any]:
    return {name: getattr(widget, name) for name in AUDITED_FIELDS}


class WidgetAdminView(TenantMemberView, View):
    """Resolves tenant and membership (admins and owners); unknown widgets answer 404."""

    minimum_role = Role.ADMIN

    def audit(self, action: str, widget: Widget, data: dict[str, Any] | None = None) -> None:
        audit_record(
            action=action,
            actor=self.request.user,
            object_type="widget",
            object_id=str(widget.pk),
            ip_address=client_ip(self.request),
            user_agent=self.request.headers.get("User-Agent", ""),
            data=data,
        )


# --- The settings page ------------------------------------------------------------------------


def preview_origin(request: HttpRequest) -> str:
    """The origin the preview iframe runs on: this backoffice host."""
    return f"{request.scheme}://{request.get_host()}"


def editor_context(
    request: HttpRequest, widget: Widget, form: WidgetSettingsForm, saved: bool = False
) -> dict[str, Any]:
    origin = preview_origin(request)
    return {
        "widget": widget,
        "form": form,
        "saved": saved,
        "preview_origin": origin,
        "preview_allowed": origin_allowed(widget, origin),
        "preview_version": int(widget.updated_at.timestamp()),
    }


def settings_page(
    request: HttpRequest,
    widget: Widget,
    form: WidgetSettingsForm,
    widgets: list[Widget] | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    if widgets is None:
        widgets = list(Widget.objects.order_by("name").only("id", "name", "is_enabled"))
    context = {
        **editor_context(request, widget, form),
        "widgets": widgets,
        "script_url": f"{request.scheme}://{request.get_host()}/widget.js",
        **extra,
    }
    return render(request, "widgets/settings.html", context, status=status)


class WidgetSettingsView(WidgetAdminView):
    template = "widgets/settings.html"

    def get(self, request: HttpRequest, pk: Any = None) -> HttpResponse:
        widgets = list(Widget.objects.order_by("name").only("id", "name", "is_enabled"))
        if pk is None and not widgets:
            return render(request, self.template, {"widgets": [], "widget": None})
        widget = widget_get(pk if pk is not None else widgets[0].pk)
        return settings_page(request, widget, WidgetSettingsForm.for_widget(widget), widgets)

    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        widget = widget_get(pk)
        form = WidgetSettingsForm(request.POST)
        if form.is_valid():
            before = _snapshot(widget)
            try:
                with transaction.atomic():
                    widget_update(widget=widget, **form.service_kwargs())
                    after = _snapshot(widget)
                    changed = [name for name in AUDITED_FIELDS if before[name] != after[name]]
                    if changed:
                        self.audit("widget.updated", widget, {"changed": changed})
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
                widget = widget_get(pk)  # the service set attributes before it refused
            else:
                if request.htmx:  # type: ignore[attr-defined]  # django-htmx middleware
                    form = WidgetSettingsForm.for_widget(widget)
                    return render(
                        request, "widgets/_editor.html", editor_context(request, widget, form, True)
                    )
                messages.success(request, f"{widget.name}: settings saved.")
                return redirect("widgets:detail", pk=widget.pk)
        if request.htmx:  # type: ignore[attr-defined]
            # 200 so that HTMX swaps the form in; the errors are in it.
            return render(request, "widgets/_editor.html", editor_context(request, widget, form))
        return settings_page(request, widget, form, status=400)


# --- The preview page (inside the settings page's iframe) -------------------------------------


@method_decorator(xframe_options_sameorigin, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class WidgetPreviewView(WidgetAdminView):
    def get(self, request: HttpRequest, pk: Any) -> HttpResponse:
        widget = widget_get(pk)
        # The preview hands the widget its config itself, for two reasons: the config
        # endpoint lets browsers cache it for a minute (a saved change would not show), and
        # browsers send no Origin header on a same-origin GET, which that endpoint refuses.
        # It does so only where the endpoint would answer (enabled, origin allowed), so the
        # preview shows "unavailable" exactly when a site on this origin would.
        served = widget.is_enabled and origin_allowed(widget, preview_origin(request))
        return render(
            request,
            "widgets/preview.html",
            {
                "widget": widget,
                "script_url": f"{request.scheme}://{request.get_host()}/widget.js",
                "config": widget_public_config(widget) if served else None,
                "open": request.GET.get("open", "1") != "0",
            },
        )


# --- Identity verification: reveal and rotate the secret --------------------------------------


class WidgetSecretView(WidgetAdminView):
    """GET: the panel with the secret hidden. POST: reveal it (audited)."""

    def get(self, request: HttpRequest, pk: Any) -> HttpResponse:
        return self.panel(widget_get(pk))

    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        widget = widget_get(pk)
        self.audit("widget.secret_revealed", widget)
        return self.panel(widget, secret=widget.identity_secret)

    def panel(self, widget: Widget, **extra: Any) -> HttpResponse:
        if self.request.htmx:  # type: ignore[attr-defined]
            return render(self.request, "widgets/_identity.html", {"widget": widget, **extra})
        # Without JavaScript: the whole page, with the panel in the asked-for state.
        return settings_page(self.request, widget, WidgetSettingsForm.for_widget(widget), **extra)


class WidgetSecretRotateView(WidgetAdminView):
    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        widget = widget_get(pk)
        with transaction.atomic():
            widget_secret_rotate(widget=widget)
            self.audit("widget.secret_rotated", widget)
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "widgets/_identity.html", {"widget": widget, "rotated": True})
        messages.success(request, "A new identity secret is in place: update it on your server.")
        return redirect(reverse("widgets:detail", kwargs={"pk": widget.pk}) + "#identity")
