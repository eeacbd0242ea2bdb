"""The team page (/team/): members and their roles, invitations. Admins and owners only.

Viewers, agents and outsiders get the same 404 page. Each action calls one service, which
applies the rules (``apps.tenants.services``); a refused action is shown as a message, never
a traceback. Role changes answer HTMX with the updated table row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from apps.core.errors import AppError, NotFound
from apps.core.pagination import paginate
from apps.tenants import services
from apps.tenants.forms import InviteForm, RoleForm, add_service_error, grantable_roles
from apps.tenants.models import Membership, Role
from apps.tenants.permissions import TenantMemberView
from apps.tenants.selectors import invitations_pending, team_members, team_owner_count
from apps.tenants.views import base_url, client_ip


@dataclass(frozen=True)
class MemberRow:
    """A member as the acting person sees them: what they may do to this row, and why not."""

    membership: Membership
    is_self: bool
    can_change_role: bool
    can_remove: bool
    locked_reason: str
    role_choices: list[tuple[str, str]]


def member_row(*, actor: Membership, target: Membership, owners: int) -> MemberRow:
    is_self = target.user_id == actor.user_id
    try:
        services.check_may_manage(actor=actor, target=target)
        services.check_not_last_owner(target=target, owners=owners)
    except AppError as exc:
        return MemberRow(target, is_self, False, False, exc.message, [])
    return MemberRow(target, is_self, True, True, "", grantable_roles(actor.role))


class TeamAdminView(TenantMemberView, View):
    minimum_role = Role.ADMIN

    def team_page(self, invite_form: InviteForm | None = None, status: int = 200) -> HttpResponse:
        request = self.request
        owners = team_owner_count(tenant=self.tenant)
        members = paginate(request, team_members(tenant=self.tenant))
        members.object_list = [
            member_row(actor=self.membership, target=m, owners=owners) for m in members.object_list
        ]
        context = {
            "members": members,
            "owners": owners,
            "invitations": paginate(
                request, invitations_pending(tenant=self.tenant), "invitations_page"
            ),
            "invite_form": invite_form or InviteForm(actor_role=self.membership.role),
            "is_owner": self.membership.role == Role.OWNER,
            "now": timezone.now(),
        }
        return render(request, "team/team.html", context, status=status)


class TeamView(TeamAdminView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.team_page()


class InviteView(TeamAdminView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = InviteForm(request.POST, actor_role=self.membership.role)
        if form.is_valid():
            try:
                sent = services.invitation_create(
                    tenant=self.tenant,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=request.user,  # type: ignore[arg-type]
                    base_url=base_url(request),
                    ip_address=client_ip(request),
                )
            except AppError as exc:
                add_service_error(form, exc)
            else:
                _flash_sent(request, sent, "Invitation sent to")
                return redirect("backoffice:team")
        return self.team_page(invite_form=form, status=400)


def _flash_sent(request: HttpRequest, sent: services.InvitationSent, lead: str) -> None:
    email = sent.invitation.email
    if sent.email_sent:
        messages.success(request, f"{lead} {email}. The link works for 7 days.")
    else:
        messages.error(
            request,
            f"The invitation for {email} is saved, but the email could not be sent (the mail "
            "server did not answer). Try Resend once mail works.",
        )


def _act_and_report[T](
    request: HttpRequest, action: Callable[[], T], report: Callable[[T], None]
) -> HttpResponse:
    """Run one team service: a refusal becomes an error message, a missing row stays a 404."""
    try:
        result = action()
    except NotFound:
        raise
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        report(result)
    return redirect("backoffice:team")


class InvitationResendView(TeamAdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _act_and_report(
            request,
            lambda: services.invitation_resend(
                tenant=self.tenant,
                invitation_id=pk,
                actor=request.user,  # type: ignore[arg-type]
                base_url=base_url(request),
                ip_address=client_ip(request),
            ),
            lambda sent: _flash_sent(request, sent, "A new link was sent to"),
        )


class InvitationRevokeView(TeamAdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _act_and_report(
            request,
            lambda: services.invitation_revoke(
                tenant=self.tenant,
                invitation_id=pk,
                actor=request.user,  # type: ignore[arg-type]
                ip_address=client_ip(request),
            ),
            lambda invitation: messages.success(
                request, f"The invitation for {invitation.email} was revoked."
            ),
        )


class MemberRoleView(TeamAdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = RoleForm(request.POST)
        error, saved = "", False
        if not form.is_valid():
            error = "Choose a role."
        else:
            try:
                membership = services.membership_role_change(
                    tenant=self.tenant,
                    membership_id=pk,
                    role=form.cleaned_data["role"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip_address=client_ip(request),
                )
            except NotFound:
                raise
            except AppError as exc:
                error = exc.message
            else:
                saved = True
        if not request.htmx:  # type: ignore[attr-defined]
            if error:
                messages.error(request, error)
            else:
                email = membership.user.email
                messages.success(request, f"{email} is now {membership.get_role_display()}.")
            return redirect("backoffice:team")
        target = team_members(tenant=self.tenant).filter(pk=pk).first()
        if target is None:
            raise NotFound("No such member.", code="member_not_found")
        row = member_row(
            actor=self.membership, target=target, owners=team_owner_count(tenant=self.tenant)
        )
        return render(
            request, "team/_member_row.html", {"row": row, "row_error": error, "saved": saved}
        )


class MemberRemoveView(TeamAdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _act_and_report(
            request,
            lambda: services.membership_remove(
                tenant=self.tenant,
                membership_id=pk,
                actor=request.user,  # type: ignore[arg-type]
                ip_address=client_ip(request),
            ),
            lambda removed: messages.success(
                request, f"{removed.user.email} was removed from the workspace."
            ),
        )
