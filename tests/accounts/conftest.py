"""Fixtures for sign-in tests: verified people, TOTP codes, and a real OpenLDAP server.

``slapd`` starts Debian's OpenLDAP server on a free loopback port, from a slapd.conf (mdb
backend, the core/cosine/inetorgperson/nis schemas) in a temporary directory, loaded with a
small directory: ou=people (Ada, Grace, Linus), ou=groups (groupOfNames) and a read-only
service account. It is stopped and its files removed when the session ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from apps.accounts.services import user_email_verified_ensure
from apps.tenants.models import Role
from apps.tenants.services import membership_set
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


# --- People ----------------------------------------------------------------------------------


@pytest.fixture
def make_person(db):
    """A verified person, optionally a member of tenants: make_person(alpha=Role.AGENT)."""

    def make(email: str | None = None, **roles):
        from apps.tenants.models import Tenant

        person = UserFactory(**({"email": email} if email else {}))
        user_email_verified_ensure(user=person)
        for slug, role in roles.items():
            membership_set(tenant=Tenant.objects.get(slug=slug), user=person, role=role)
        return person

    return make


@pytest.fixture
def alpha_agent(make_person):
    return make_person(alpha=Role.AGENT)


def client_for(host: str) -> Client:
    return Client(HTTP_HOST=host)


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post("/login/", {"login": email, "password": password, **extra})


# --- TOTP ------------------------------------------------------------------------------------


def totp_code(secret: str, *, offset: int = 0) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), computed here independently of allauth."""
    if not offset and 30 - time.time() % 30 < 1.5:
        time.sleep(2)  # do not compute a code that expires before the server checks it
    counter = int(time.time() // 30) + offset
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[start : start + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def wrong_code(secret: str) -> str:
    return f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"


@pytest.fixture
def with_totp():
    """Give a person an authenticator app (and recovery codes); returns the TOTP secret."""

    def add(person) -> str:
        from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
        from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

        secret = generate_totp_secret()
        TOTP.activate(person, secret)
        RecoveryCodes.activate(person)
        return secret

    return add


# --- A real OpenLDAP server -------------------------------------------------------------------

BASE_DN = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=search,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "search-secret"
GROUPS = f"ou=groups,{BASE_DN}"
PEOPLE = f"ou=people,{BASE_DN}"

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
# Only the service account and the people themselves read the directory; passwords are
# only ever used to bind.
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


def _person(uid: str, name: str, mail: str, password: str) -> str:
    surname = name.split()[-1]
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
        f"sn: {surname}\nmail: {mail}\nuserPassword: {password}\n"
    )


def _group(cn: str, *members: str) -> str:
    lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
    return f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}"


DIRECTORY_LDIF = "\n".join(
    [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: search\nuserPassword: {SERVICE_PASSWORD}\n",
        _person("ada", "Ada Lovelace", "Ada.Lovelace@Example.org", "ada-directory-pass"),
        _person("grace", "Grace Hopper", "grace@example.org", "grace-directory-pass"),
        _person("linus", "Linus Pauling", "linus@example.org", "linus-directory-pass"),
        _group("alpha-admins", "ada"),
        _group("alpha-agents", "ada", "grace"),
        _group("beta-viewers", "grace"),
        _group("unrelated", "linus"),
    ]
)


@dataclass(frozen=True)
class Slapd:
    uri: str

    def connect(self):
        import ldap

        conn = ldap.initialize(self.uri)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def set_members(self, group_cn: str, *uids: str) -> None:
        """Replace a group's members (groupOfNames needs at least one: the service account)."""
        import ldap

        members = [f"uid={uid},{PEOPLE}".encode() for uid in uids] or [SERVICE_DN.encode()]
        conn = self.connect()
        try:
            conn.modify_s(f"cn={group_cn},{GROUPS}", [(ldap.MOD_REPLACE, "member", members)])
        finally:
            conn.unbind_s()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    binary = shutil.which("slapd") or "/usr/sbin/slapd"
    if not Path(binary).exists():
        pytest.fail("slapd is not installed (Debian packages 'slapd' and 'ldap-utils')")
    work = Path(tempfile.mkdtemp(prefix="aichat-slapd-"))
    (work / "data").mkdir()
    conf = work / "slapd.conf"
    conf.write_text(
        SLAPD_CONF.format(dir=work, base=BASE_DN, root_dn=ROOT_DN, root_password=ROOT_PASSWORD)
    )
    (work / "directory.ldif").write_text(DIRECTORY_LDIF)
    subprocess.run(
        [str(Path(binary).parent / "slapadd"), "-f", str(conf), "-l", str(work / "directory.ldif")],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = open(work / "slapd.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [binary, "-f", str(conf), "-h", f"{uri}/", "-d", "0"], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"slapd did not start: {(work / 'slapd.log').read_text()[-2000:]}")
            time.sleep(0.1)
    try:
        yield Slapd(uri)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


ROLE_GROUPS = ";".join(
    [
        f"alpha:admin=cn=alpha-admins,{GROUPS}",
        f"alpha:agent=cn=alpha-agents,{GROUPS}",
        # Spelled differently on purpose: DNs compare case- and space-insensitively.
        "beta:viewer=CN=beta-viewers, OU=groups, DC=example, DC=org",
    ]
)


@pytest.fixture
def ldap_on(settings, slapd):
    """Turn directory sign-in on, configured the way config/settings/base.py does from env."""
    from config.settings.base import ldap_directory_settings

    for name, value in ldap_directory_settings(
        server_uri=slapd.uri,
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        user_search_base=PEOPLE,
        group_search_base=GROUPS,
        attr_full_name="cn",
    ).items():
        setattr(settings, name, value)
    settings.LDAP_ROLE_GROUPS = ROLE_GROUPS
    yield slapd
    # Group memberships are shared by the session: put them back as DIRECTORY_LDIF has them.
    slapd.set_members("alpha-admins", "ada")
    slapd.set_members("alpha-agents", "ada", "grace")
    slapd.set_members("beta-viewers", "grace")
