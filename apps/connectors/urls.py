from django.urls import path

from apps.connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.ConnectionListView.as_view(), name="list"),
    path("<int:pk>/", views.ConnectionDetailView.as_view(), name="detail"),
    path("<int:pk>/test/", views.ConnectionTestView.as_view(), name="test"),
    path("<int:pk>/delete/", views.ConnectionDeleteView.as_view(), name="delete"),
    path("<int:pk>/sql-tool/", views.SqlToolView.as_view(), name="sql_tool"),
    path("<int:pk>/tables/", views.TableBrowserView.as_view(), name="tables"),
    path("<int:pk>/tables/approve/", views.TableApproveView.as_view(), name="approve"),
    path(
        "<int:pk>/tables/<int:table_pk>/revoke/",
        views.TableRevokeView.as_view(),
        name="revoke",
    ),
    path("queries/", views.NamedQueryListView.as_view(), name="queries"),
    path("queries/<int:pk>/", views.NamedQueryDetailView.as_view(), name="query"),
    path("queries/<int:pk>/run/", views.NamedQueryRunView.as_view(), name="query_run"),
    path("queries/<int:pk>/delete/", views.NamedQueryDeleteView.as_view(), name="query_delete"),
]
