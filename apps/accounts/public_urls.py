"""The platform host's share of apps.accounts.urls: operators manage their own sign-in."""

from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/security/", views.SecurityView.as_view(), name="security"),
]
