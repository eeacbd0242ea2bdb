"""URLs of the platform host: operators' Django admin plus the key-routed endpoints."""

from django.contrib import admin
from django.urls import include, path

from apps.core import views as core_views

urlpatterns = [
    path("", core_views.platform_home, name="platform-home"),
    path("admin/", admin.site.urls),
    path("", include("config.urls_shared")),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
