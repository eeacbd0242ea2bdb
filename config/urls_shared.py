"""Endpoints served on every host: health, and the key-routed widget and API surfaces.

These resolve the tenant from a key (or need none), never from the host name.
"""

from django.urls import path

from apps.core import views as core_views

urlpatterns = [
    # /healthz is answered by apps.core.middleware.LivenessMiddleware, before tenancy.
    path("readyz", core_views.readyz, name="readyz"),
]
