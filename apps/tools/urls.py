from django.urls import path

from apps.tools import views

app_name = "tools"

urlpatterns = [
    path("", views.HttpToolListView.as_view(), name="list"),
    path("<int:pk>/", views.HttpToolDetailView.as_view(), name="detail"),
    path("<int:pk>/test/", views.HttpToolTestView.as_view(), name="test"),
    path("<int:pk>/delete/", views.HttpToolDeleteView.as_view(), name="delete"),
]
