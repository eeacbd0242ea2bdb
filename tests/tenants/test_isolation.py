"""Two tenants created by the service cannot see each other's rows or cache entries."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.widgets.models import Widget
from apps.widgets.selectors import widget_by_embed_key
from apps.widgets.services import widget_create


def test_each_tenant_sees_only_its_own_widgets(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        widget_create(name="Only in A")
    with tenant_context(tenant_b):
        names_b = set(Widget.objects.values_list("name", flat=True))
    with tenant_context(tenant_a):
        names_a = set(Widget.objects.values_list("name", flat=True))
    assert "Only in A" in names_a
    assert "Only in A" not in names_b


def test_audit_events_stay_in_their_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_b):
        audit_record(action="secret.beta.thing")
    with tenant_context(tenant_a):
        assert not AuditEvent.objects.filter(action="secret.beta.thing").exists()
    with tenant_context(tenant_b):
        assert AuditEvent.objects.filter(action="secret.beta.thing").count() == 1


def test_tenant_tables_do_not_exist_in_public(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'widgets_widget'"
        )
        schemas = {row[0] for row in cursor.fetchall()}
    assert "public" not in schemas
    assert {"alpha", "beta"} <= schemas


def test_embed_key_resolves_to_its_own_tenant_only(tenant_a, tenant_b, seeded):
    tenant, widget = widget_by_embed_key(seeded["beta"].embed_key)
    assert tenant == tenant_b
    assert widget.embed_key == seeded["beta"].embed_key
    with tenant_context(tenant_a):
        assert not Widget.objects.filter(embed_key=seeded["beta"].embed_key).exists()
    assert widget_by_embed_key("ek_doesnotexist") is None


def test_cache_keys_are_per_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        cache.set("greeting", "hello from A", 30)
    with tenant_context(tenant_b):
        assert cache.get("greeting") is None
        cache.set("greeting", "hello from B", 30)
    with tenant_context(tenant_a):
        assert cache.get("greeting") == "hello from A"
    assert cache.get("greeting") is None  # public schema has its own namespace too


def test_audit_log_is_append_only(in_tenant_a):
    from django.db import DatabaseError, transaction

    event = audit_record(action="something.happened")
    event.action = "rewritten"
    try:
        with transaction.atomic():
            event.save()
        raised = False
    except DatabaseError:
        raised = True
    assert raised
    try:
        with transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        raised = False
    except DatabaseError:
        raised = True
    assert raised
    assert AuditEvent.objects.get(pk=event.pk).action == "something.happened"
