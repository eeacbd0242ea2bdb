"""Approving tables: checked against the live database, row filters checked when saved."""

from __future__ import annotations

import pytest

from apps.connectors.models import ApprovedTable
from apps.connectors.services import connection_create, table_approve
from apps.core.errors import AppError
from tests.connectors.conftest import ROLE_PASSWORD


@pytest.fixture
def target(in_tenant_a, scratch):
    return connection_create(
        name="target",
        engine=scratch.engine,
        host=scratch.server.host,
        port=scratch.server.port,
        database=scratch.database,
        username=scratch.role,
        password=ROLE_PASSWORD,
        sslmode="disable",
    )


def test_approval_uses_live_introspection(target, scratch):
    approved = table_approve(
        connection=target,
        table=f"{scratch.schema}.orders",
        columns=["id", "status", "card_number"],
        sensitive=["card_number"],
        row_filter="customer_id = :visitor_id",
    )
    assert approved.columns == ["id", "status"]
    assert approved.sensitive_columns == ["card_number"]
    assert set(approved.column_types) == {"id", "status", "card_number"}


def test_unqualified_table_means_the_default_schema(target):
    assert (
        table_approve(connection=target, table="products", columns=["id"]).table_name == "products"
    )


@pytest.mark.parametrize(
    ("table", "columns", "row_filter", "code"),
    [
        ("no_such_table", ["id"], "", "table_not_found"),
        ("orders", ["id", "no_such_column"], "", "column_not_found"),
        ("orders", [], "", "no_columns"),
        ("orders", ["id"], "owner = :visitor_id", "invalid_row_filter"),
        ("orders", ["id"], "customer_id = :someone_else", "invalid_row_filter"),
        ("orders", ["id"], "customer_id IN (SELECT id FROM customers)", "invalid_row_filter"),
        ("orders", ["id"], "customer_id = 1 OR pg_sleep(1) IS NULL", "invalid_row_filter"),
        ("orders", ["id"], "customer_id = 1; DELETE FROM orders", "invalid_row_filter"),
    ],
)
def test_bad_approvals_are_refused(target, table, columns, row_filter, code):
    with pytest.raises(AppError) as excinfo:
        table_approve(connection=target, table=table, columns=columns, row_filter=row_filter)
    assert excinfo.value.code == code
    assert not ApprovedTable.objects.exists()


def test_approving_again_replaces_the_approval(target):
    table_approve(connection=target, table="orders", columns=["id", "status"])
    table_approve(connection=target, table="orders", columns=["id"], row_filter="id = 1")
    approved = ApprovedTable.objects.get()
    assert (approved.columns, approved.row_filter) == (["id"], "id = 1")
