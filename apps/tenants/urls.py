from django.urls import path

from apps.tenants import api_key_views, invitation_views, team_views, views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("team/", team_views.TeamView.as_view(), name="team"),
    path("team/invite/", team_views.InviteView.as_view(), name="team-invite"),
    path("team/members/<int:pk>/role/", team_views.MemberRoleView.as_view(), name="member-role"),
    path(
        "team/members/<int:pk>/remove/",
        team_views.MemberRemoveView.as_view(),
        name="member-remove",
    ),
    path(
        "team/invitations/<int:pk>/resend/",
        team_views.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "team/invitations/<int:pk>/revoke/",
        team_views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path(
        "invite/<str:token>/",
        invitation_views.InvitationAcceptView.as_view(),
        name="invite-accept",
    ),
    path("api-keys/", api_key_views.ApiKeysView.as_view(), name="api-keys"),
    path(
        "api-keys/<int:pk>/revoke/",
        api_key_views.ApiKeyRevokeView.as_view(),
        name="api-key-revoke",
    ),
]
