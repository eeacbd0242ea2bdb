"""Sign-in pages of this product; allauth's own (login, passwords, authenticators) are
included next to these in config/urls.py and config/urls_public.py."""

from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/security/", views.SecurityView.as_view(), name="security"),
    path("accounts/switch/<slug:slug>/", views.TenantSwitchView.as_view(), name="switch"),
    path("accounts/handoff/", views.TenantHandoffView.as_view(), name="handoff"),
    path("security/", views.TenantSecurityView.as_view(), name="tenant-security"),
]
