"""Directory groups that give roles in tenants (``LDAP_ROLE_GROUPS``).

The setting lists ``slug:role=group DN`` entries separated by ``;``, for example::

    alpha:admin=cn=alpha-admins,ou=groups,dc=example,dc=org;alpha:agent=cn=support,ou=groups,...

A tenant named in the mapping is *covered*: at every directory sign-in, a person's role there
becomes the highest role among the mapped groups they are in, and their membership is removed
when they are in none of them. Tenants the mapping does not name are never touched.
"""

from __future__ import annotations

from typing import NamedTuple

import ldap.dn
from django.core.exceptions import ImproperlyConfigured

from apps.tenants.models import Role

ROLE_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}


class RoleGroup(NamedTuple):
    tenant_slug: str
    role: str
    group_dn: str  # normalised with normalize_dn


def normalize_dn(dn: str) -> str:
    """A DN in one canonical spelling (case and spaces do not matter in LDAP DNs)."""
    try:
        return str(ldap.dn.dn2str(ldap.dn.str2dn(dn.strip()))).lower()
    except ldap.DECODING_ERROR as exc:
        raise ValueError(f"not a distinguished name: {dn!r}") from exc


def role_groups_parse(raw: str) -> list[RoleGroup]:
    """Parse ``LDAP_ROLE_GROUPS``; a malformed entry raises ImproperlyConfigured naming it."""
    groups = []
    for entry in (part.strip() for part in raw.split(";")):
        if not entry:
            continue
        target, sep, group_dn = entry.partition("=")
        slug, colon, role = target.strip().partition(":")
        slug, role = slug.strip(), role.strip().lower()
        if not (sep and colon and slug and group_dn.strip()):
            raise ImproperlyConfigured(
                f"LDAP_ROLE_GROUPS entry {entry!r} must look like 'slug:role=group DN'."
            )
        if role not in Role.values:
            raise ImproperlyConfigured(
                f"LDAP_ROLE_GROUPS entry {entry!r}: role must be one of {', '.join(Role.values)}."
            )
        try:
            groups.append(RoleGroup(slug, role, normalize_dn(group_dn)))
        except ValueError as exc:
            raise ImproperlyConfigured(f"LDAP_ROLE_GROUPS entry {entry!r}: {exc}.") from exc
    return groups


def roles_from_groups(
    *, role_groups: list[RoleGroup], group_dns: set[str]
) -> tuple[set[str], dict[str, str]]:
    """(tenant slugs the mapping covers, the role the groups give in each covered tenant)."""
    member_of = {normalize_dn(dn) for dn in group_dns}
    covered = {group.tenant_slug for group in role_groups}
    roles: dict[str, str] = {}
    for group in role_groups:
        if group.group_dn not in member_of:
            continue
        current = roles.get(group.tenant_slug)
        if current is None or ROLE_RANK[Role(group.role)] > ROLE_RANK[Role(current)]:
            roles[group.tenant_slug] = group.role
    return covered, roles
