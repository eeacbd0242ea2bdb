"""The SQL guard on its own (no database): what it refuses and how it rewrites."""

from __future__ import annotations

import pytest

from apps.connectors.sqlguard import Policy, SqlRefused, TablePolicy, guard_select, parse_row_filter

ORDERS = TablePolicy(
    "public",
    "orders",
    ("id", "customer_id", "status"),
    frozenset({"card"}),
    "customer_id = :visitor_id",
)
PRODUCTS = TablePolicy("public", "products", ("id", "name"))
PG = Policy("postgresql", "public", (ORDERS, PRODUCTS))
MY = Policy(
    "mysql",
    "shop",
    (
        TablePolicy("shop", "orders", ORDERS.columns, ORDERS.sensitive, ORDERS.row_filter),
        TablePolicy("shop", "products", PRODUCTS.columns),
    ),
)


def refused(sql: str, policy: Policy = PG, **kwargs) -> str:
    with pytest.raises(SqlRefused) as excinfo:
        guard_select(sql, policy, row_cap=200, **kwargs)
    return excinfo.value.reason


def test_every_reference_to_a_filtered_table_gets_the_filter():
    sql = guard_select(
        "WITH w AS (SELECT id FROM orders) "
        "SELECT o.id FROM orders o JOIN w ON w.id = o.id "
        "WHERE o.id IN (SELECT x.id FROM orders x) AND EXISTS (SELECT 1 FROM public.orders)",
        PG,
        row_cap=200,
    ).sql
    assert (
        sql.count(
            'FROM "public"."orders" AS aichat_rf WHERE (aichat_rf.customer_id = %(visitor_id)s) OFFSET 0'
        )
        == 4
    )
    assert " orders " not in sql.replace('"orders"', "")


def test_unfiltered_tables_are_schema_qualified():
    assert (
        'FROM "public"."products" AS products'
        in guard_select("SELECT name FROM products", PG, row_cap=5).sql
    )


@pytest.mark.parametrize(
    ("sql", "limit"),
    [
        ("SELECT id FROM products", 201),
        ("SELECT id FROM products LIMIT 10", 10),
        ("SELECT id FROM products LIMIT 100000", 201),
        ("SELECT id FROM products FETCH FIRST 7 ROWS ONLY", 7),
        ("SELECT id FROM products UNION SELECT id FROM products", 201),
    ],
)
def test_outermost_limit_is_capped(sql, limit):
    guarded = guard_select(sql, PG, row_cap=200)
    assert guarded.fetch_limit == limit
    assert guarded.sql.endswith(f"LIMIT {limit}")


def test_percent_signs_are_escaped_for_the_driver():
    sql = guard_select("SELECT name FROM products WHERE name LIKE 'a%'", PG, row_cap=5).sql
    assert "'a%%'" in sql


def test_mysql_filtered_tables_are_fenced_with_a_limit():
    sql = guard_select("SELECT id FROM orders", MY, row_cap=5).sql
    assert (
        "FROM `shop`.`orders` AS aichat_rf WHERE (aichat_rf.customer_id = %(visitor_id)s) LIMIT 18446744073709551615"
        in sql
    )


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT card FROM orders", "sensitive_column"),
        ("SELECT nope FROM orders", "column_not_approved"),
        ("SELECT id FROM orders, products", "qualify_columns"),
        ("SELECT id FROM orders WHERE id = :order_id", "placeholder"),
        ("SELECT id FROM orders LIMIT ALL", "construct_not_allowed"),
        ("SELECT * FROM orders /*! , card */", "executable_comment"),
        ("", "empty"),
        ("SELECT " + "(" * 3000 + "1" + ")" * 3000, "too_complex"),
        ("SELECT x" * 5000, "too_long"),
    ],
)
def test_refusal_reasons(sql, reason):
    assert refused(sql) == reason


def test_named_queries_may_filter_on_sensitive_columns_but_not_return_them():
    guard_select(
        "SELECT id FROM orders WHERE card = :card",
        PG,
        row_cap=5,
        params={"card"},
        trusted_author=True,
    )
    assert (
        refused("SELECT card FROM orders", params=set(), trusted_author=True) == "sensitive_column"
    )
    assert (
        refused("SELECT id FROM orders WHERE id = :other", params={"card"}, trusted_author=True)
        == "placeholder"
    )


@pytest.mark.parametrize(
    "text",
    [
        "customer_id IN (SELECT id FROM customers)",
        "o.customer_id = :visitor_id",
        "customer_id = :other",
        "customer_id = 1; DROP TABLE orders",
        "customer_id = 1 -- comment",
        "pg_sleep(1) IS NULL",
        "1=1) OR (1=1",
    ],
)
def test_bad_row_filters_are_refused(text):
    with pytest.raises(SqlRefused):
        parse_row_filter(text, PG)


def test_cached_results_do_not_share_placeholder_markers():
    first = guard_select("SELECT id FROM orders", PG, row_cap=5)
    second = guard_select("SELECT id FROM orders", PG, row_cap=5)
    assert first == second
    assert "aichatp" not in first.sql
