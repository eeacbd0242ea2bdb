"""The least-privilege SQL in docs/tools.md works as written, and the tools work through it.

The documented statements run (names swapped for the scratch ones) against the reference
database of each engine; then a connection made with that user serves the SQL tool, while the
user itself cannot read an ungranted column or write anything.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import psycopg
import pymysql
import pytest

from apps.connectors.services import connection_create, sql_tool_set, table_approve
from tests.connectors.conftest import APPROVALS, introspected

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tools.md"


def documented_sql(engine: str) -> list[str]:
    text = DOCS.read_text()
    match = re.search(rf"```sql\n-- aichat:least-privilege:{engine}\n(.*?)```", text, re.S)
    assert match, f"docs/tools.md has no least-privilege block for {engine}"
    lines = [line for line in match.group(1).splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@pytest.fixture
def documented_user(scratch):
    """Run the documented statements on the reference database; drop the user afterwards."""
    user = f"aichat_doc_{secrets.token_hex(3)}"
    password = "doc-" + secrets.token_hex(6)
    database = scratch.reference_database
    statements = [
        s.replace("aichat_reader", user)
        .replace("change-me", password)
        .replace("DATABASE shop", f"DATABASE {database}")
        .replace("shop.", f"{database}.")
        for s in documented_sql(scratch.engine)
    ]
    conn = scratch.admin(database)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        yield user, password
    finally:
        with conn.cursor() as cur:
            if scratch.engine == "postgresql":
                cur.execute(f"DROP OWNED BY {user}")
                cur.execute(f"DROP ROLE {user}")
            else:
                cur.execute(f"DROP USER '{user}'@'%'")
        conn.close()


def raw_connection(scratch, user, password):
    server = scratch.server
    if scratch.engine == "postgresql":
        return psycopg.connect(
            host=server.host, port=server.port, user=user, password=password,
            dbname=scratch.reference_database,
        )  # fmt: skip
    return pymysql.connect(
        host=server.host, port=server.port, user=user, password=password,
        database=scratch.reference_database,
    )  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT email FROM customers",
        "SELECT * FROM customers",
        "INSERT INTO products VALUES (99, 'x', 1, 1)",
        "DELETE FROM orders",
    ],
)
def test_the_documented_user_cannot_read_more_or_write(scratch, documented_user, statement):
    user, password = documented_user
    conn = raw_connection(scratch, user, password)
    try:
        with pytest.raises((psycopg.Error, pymysql.MySQLError)), conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def test_tools_work_through_the_documented_user(in_tenant_a, scratch, documented_user, run_sql):
    user, password = documented_user
    connection = connection_create(
        name="shop",
        engine=scratch.engine,
        host=scratch.server.host,
        port=scratch.server.port,
        database=scratch.reference_database,
        username=user,
        password=password,
        sslmode="disable",
    )
    schema = "public" if scratch.engine == "postgresql" else scratch.reference_database
    tables = [t.__class__(schema, t.name, t.kind, t.columns) for t in introspected(scratch)]
    for table in ("customers", "orders", "products"):
        approval = APPROVALS[table]
        table_approve(
            connection=connection,
            table=f"{schema}.{table}",
            columns=approval["columns"],
            sensitive=approval["sensitive"],
            row_filter=approval["row_filter"],
            introspected=tables,
        )
    sql_tool_set(connection=connection, enabled=True)
    assert run_sql("SELECT * FROM customers").data["rows"] == [[1, "Alice", "gold"]]
    assert run_sql("SELECT count(*) AS n FROM orders").data["rows"] == [[3]]
    joined = run_sql(
        "SELECT c.name, o.status FROM customers c JOIN orders o ON o.customer_id = c.id"
    )
    assert joined.ok, joined.error_message
    assert len(joined.data["rows"]) == 3
