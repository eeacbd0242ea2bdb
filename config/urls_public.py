"""URLs of the platform host: operators' Django admin plus the key-routed endpoints."""

from allauth.account import views as allauth_views
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from apps.accounts.views import security_redirect
from apps.core import views as core_views

# Operators sign in to the admin through allauth too: rate limits and two-factor apply.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", core_views.platform_home, name="platform-home"),
    path("login/", allauth_views.login, name="login"),
    path("logout/", allauth_views.logout, name="logout"),
    path("accounts/2fa/", security_redirect),
    path("", include("apps.accounts.public_urls", namespace="accounts")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("config.urls_shared")),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
