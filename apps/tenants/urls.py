from django.urls import path

from apps.tenants import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
]
