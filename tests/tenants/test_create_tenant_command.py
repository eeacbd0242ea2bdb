"""manage.py create_tenant: prints the embed key; bad input is one line and exit code 2."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.tenants.models import Tenant, WidgetRoute


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    return out.getvalue()


def test_prints_embed_key_and_generated_password(db, settings):
    settings.DEBUG, settings.DEV_SERVER_PORT = True, 8123
    output = run(
        "delta", "--name", "Delta", "--domain", "delta.localhost", "--owner-email", "d@delta.test"
    )
    tenant = Tenant.objects.get(slug="delta")
    route = WidgetRoute.objects.get(tenant=tenant)
    assert f"embed key:  {route.embed_key}" in output
    assert "password:" in output
    assert "backoffice: http://delta.localhost:8123/" in output  # where make run serves it


def test_prints_the_https_address_in_production(db, settings):
    settings.DEBUG = False
    output = run("eta", "--name", "Eta", "--domain", "eta.example.com", "--owner-email", "e@x.test")
    assert "backoffice: https://eta.example.com/" in output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["alpha", "--domain", "x.localhost"], "already exists"),
        (["public", "--domain", "x.localhost"], "reserved"),
        (["www", "--domain", "x.localhost"], "reserved"),
        (["epsilon", "--domain", "not a host"], "Invalid domain"),
        (["epsilon", "--domain", "alpha.localhost"], "already in use"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_schema(db, args, fragment):
    slug = args[0]
    before = Tenant.objects.count()
    with pytest.raises(CommandError) as excinfo:
        run(*args, "--name", "Whatever", "--owner-email", "o@x.test")
    assert excinfo.value.returncode == 2
    assert fragment in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert Tenant.objects.count() == before
    if slug not in ("alpha", "public"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name=%s", [slug])
            assert cursor.fetchone() is None


def test_missing_required_option_is_a_usage_error(db):
    with pytest.raises(CommandError):
        run("zeta", "--domain", "zeta.localhost")
