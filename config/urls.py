"""URLs of a tenant host (<slug>.localhost): the backoffice plus the shared endpoints."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("connectors/", include("apps.connectors.urls", namespace="connectors")),
    path("tools/", include("apps.tools.urls", namespace="tools")),
    path("knowledge/", include("apps.knowledge.urls", namespace="knowledge")),
    path("llm/", include("apps.llm.urls", namespace="llm")),
    path("audit/", include("apps.audit.urls", namespace="audit")),
    path("widgets/", include(("apps.widgets.page_urls", "widgets"), namespace="widgets")),
    path("", include(("apps.tenants.urls", "backoffice"), namespace="backoffice")),
    path("", include("config.urls_shared")),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
