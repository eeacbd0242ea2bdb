"""URLs of a tenant host (<slug>.localhost): the backoffice plus the shared endpoints."""

from allauth.account import views as allauth_views
from django.urls import include, path

from apps.accounts.views import security_redirect

urlpatterns = [
    # Sign-in (django-allauth under /accounts/; /login/ and /logout/ are the same views).
    path("login/", allauth_views.login, name="login"),
    path("logout/", allauth_views.logout, name="logout"),
    path("accounts/2fa/", security_redirect),  # allauth's overview -> our Security page
    path("", include("apps.accounts.urls", namespace="accounts")),
    path("accounts/", include("allauth.urls")),
    path("connectors/", include("apps.connectors.urls", namespace="connectors")),
    path("tools/", include("apps.tools.urls", namespace="tools")),
    path("knowledge/", include("apps.knowledge.urls", namespace="knowledge")),
    path("llm/", include("apps.llm.urls", namespace="llm")),
    path("audit/", include("apps.audit.urls", namespace="audit")),
    path("conversations/", include("apps.conversations.urls", namespace="conversations")),
    path("widgets/", include(("apps.widgets.page_urls", "widgets"), namespace="widgets")),
    path("", include(("apps.tenants.urls", "backoffice"), namespace="backoffice")),
    path("", include("config.urls_shared")),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
