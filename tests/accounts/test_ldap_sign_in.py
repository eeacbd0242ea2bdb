"""LDAP / Active Directory sign-in through the ordinary login form, against a real slapd."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core.exceptions import ImproperlyConfigured
from django_tenants.utils import tenant_context

from apps.accounts.directory import role_groups_parse
from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.tenants.models import Membership, Role
from apps.tenants.services import membership_set
from tests.accounts.conftest import client_for, sign_in

ADA = "ada.lovelace@example.org"
GRACE = "grace@example.org"


def roles_of(email: str) -> dict[str, str]:
    return dict(Membership.objects.filter(user__email=email).values_list("tenant__slug", "role"))


def test_directory_user_signs_in_with_the_login_form(ldap_on, tenant_a):
    client = client_for("alpha.localhost")
    response = sign_in(client, ADA, "ada-directory-pass")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    ada = User.objects.get(email=ADA)  # the directory's mixed-case address, normalised
    assert ada.full_name == "Ada Lovelace"
    assert ada.directory_dn == "uid=ada,ou=people,dc=example,dc=org"
    assert not ada.has_usable_password()  # the directory owns the password
    assert EmailAddress.objects.filter(user=ada, email=ADA, verified=True, primary=True).exists()


def test_wrong_directory_password_is_refused(ldap_on, tenant_a):
    client = client_for("alpha.localhost")
    response = sign_in(client, GRACE, "not-her-password")
    assert response.status_code == 200
    assert b"password you specified are not correct" in response.content
    assert not User.objects.filter(email=GRACE).exists()
    assert client.get("/").status_code == 302


def test_groups_give_the_highest_mapped_role_in_each_covered_tenant(ldap_on, tenant_a, tenant_b):
    sign_in(client_for("alpha.localhost"), ADA, "ada-directory-pass")
    sign_in(client_for("alpha.localhost"), GRACE, "grace-directory-pass")
    assert roles_of(ADA) == {"alpha": Role.ADMIN}  # admins and agents: the higher one
    assert roles_of(GRACE) == {"alpha": Role.AGENT, "beta": Role.VIEWER}
    with tenant_context(tenant_b):
        event = AuditEvent.objects.get(action="membership.directory_synced")
    assert event.data == {"email": GRACE, "from": None, "to": "viewer", "source": "ldap"}


def test_roles_follow_group_changes_at_the_next_sign_in(ldap_on, tenant_a, tenant_b):
    sign_in(client_for("alpha.localhost"), GRACE, "grace-directory-pass")
    assert roles_of(GRACE) == {"alpha": Role.AGENT, "beta": Role.VIEWER}

    ldap_on.set_members("alpha-admins", "ada", "grace")  # promoted in alpha
    ldap_on.set_members("beta-viewers")  # left beta's only mapped group
    sign_in(client_for("alpha.localhost"), GRACE, "grace-directory-pass")
    assert roles_of(GRACE) == {"alpha": Role.ADMIN}

    ldap_on.set_members("alpha-admins", "ada")
    ldap_on.set_members("alpha-agents", "ada")
    client = client_for("alpha.localhost")
    sign_in(client, GRACE, "grace-directory-pass")
    assert roles_of(GRACE) == {}  # out of every mapped group: no membership left
    assert client.get("/").status_code == 404  # signed in, but no longer a member


def test_tenants_the_mapping_does_not_cover_are_left_alone(settings, ldap_on, tenant_a, tenant_b):
    settings.LDAP_ROLE_GROUPS = "alpha:admin=cn=alpha-admins,ou=groups,dc=example,dc=org"
    linus = User.objects.create_user("linus@example.org", "local-password")
    membership_set(tenant=tenant_a, user=linus, role=Role.VIEWER)
    membership_set(tenant=tenant_b, user=linus, role=Role.AGENT)
    sign_in(client_for("alpha.localhost"), "linus@example.org", "linus-directory-pass")
    # In no mapped group: his role in alpha (covered) goes; beta is not in the mapping.
    assert roles_of("linus@example.org") == {"beta": Role.AGENT}


def test_the_last_owner_is_never_removed_by_the_directory(ldap_on, tenant_a, seeded):
    owner = seeded["alpha"].owner
    ada = User.objects.create_user(ADA, "x")
    Membership.objects.filter(tenant=tenant_a).exclude(user=owner).delete()
    Membership.objects.filter(tenant=tenant_a, user=owner).update(user=ada)
    sign_in(client_for("alpha.localhost"), ADA, "ada-directory-pass")
    assert roles_of(ADA) == {"alpha": Role.OWNER}


def test_a_local_account_with_the_same_address_becomes_a_directory_account(ldap_on, tenant_a):
    local = User.objects.create_user(GRACE, "an-old-local-password")
    sign_in(client_for("alpha.localhost"), GRACE, "grace-directory-pass")
    local.refresh_from_db()
    assert local.directory_dn == "uid=grace,ou=people,dc=example,dc=org"
    assert not local.check_password("an-old-local-password")  # leaving the directory = no access
    response = sign_in(client_for("alpha.localhost"), GRACE, "an-old-local-password")
    assert b"password you specified are not correct" in response.content


def test_directory_users_get_no_reset_link(ldap_on, tenant_a, mailoutbox):
    sign_in(client_for("alpha.localhost"), GRACE, "grace-directory-pass")
    client_for("alpha.localhost").post("/accounts/password/reset/", {"email": GRACE})
    assert len(mailoutbox) == 1
    assert "managed by your organisation" in mailoutbox[0].subject
    assert "/accounts/password/reset/key/" not in mailoutbox[0].body


def test_directory_users_cannot_change_their_password_here(ldap_on, tenant_a):
    client = client_for("alpha.localhost")
    sign_in(client, GRACE, "grace-directory-pass")
    response = client.post(
        "/accounts/password/set/", {"password1": "Br4nd-new-pass!", "password2": "Br4nd-new-pass!"}
    )
    assert response.status_code == 200
    assert b"managed by your organisation" in response.content
    assert not User.objects.get(email=GRACE).has_usable_password()


def test_without_ldap_server_uri_the_backend_is_off(settings, ldap_on, tenant_a):
    settings.AUTH_LDAP_SERVER_URI = ""
    response = sign_in(client_for("alpha.localhost"), ADA, "ada-directory-pass")
    assert response.status_code == 200
    assert not User.objects.filter(email=ADA).exists()


def test_an_unreachable_directory_does_not_lock_out_local_accounts(settings, ldap_on, alpha_agent):
    settings.AUTH_LDAP_SERVER_URI = "ldap://127.0.0.1:9"  # nothing listens on port 9
    assert sign_in(client_for("alpha.localhost"), alpha_agent.email)["Location"] == "/"
    response = sign_in(client_for("alpha.localhost"), ADA, "ada-directory-pass")
    assert b"password you specified are not correct" in response.content


def test_a_group_lookup_that_finds_nothing_leaves_no_stale_role(settings, ldap_on, tenant_a):
    client = client_for("alpha.localhost")
    sign_in(client, ADA, "ada-directory-pass")
    assert roles_of(ADA) == {"alpha": Role.ADMIN}
    from django_auth_ldap.config import LDAPSearch

    settings.AUTH_LDAP_GROUP_SEARCH = LDAPSearch("ou=nowhere,dc=example,dc=org", 2, "(cn=*)")
    again = client_for("alpha.localhost")
    sign_in(again, ADA, "ada-directory-pass")
    assert roles_of(ADA) == {}  # no group found: no role kept from before
    assert again.get("/").status_code in (302, 404)


def test_settings_have_no_ldap_server_by_default(settings):
    assert settings.AUTH_LDAP_SERVER_URI == ""  # LDAP_SERVER_URI unset in the test environment
    assert "apps.accounts.ldap.DirectoryBackend" in settings.AUTHENTICATION_BACKENDS


@pytest.mark.parametrize(
    "raw",
    [
        "alpha=cn=x,dc=example,dc=org",  # no role
        "alpha:boss=cn=x,dc=example,dc=org",  # unknown role
        "alpha:admin=",  # no group
        "alpha:admin=not a dn",
    ],
)
def test_a_malformed_role_mapping_is_refused_with_its_entry(raw):
    with pytest.raises(ImproperlyConfigured, match="LDAP_ROLE_GROUPS entry"):
        role_groups_parse(raw)
