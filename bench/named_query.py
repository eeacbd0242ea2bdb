"""What a named query costs on top of the database: ``tool_run`` vs the raw driver.

Creates a scratch database (and a login role) on the target server, a temporary tenant with
a connection, an approved ``orders`` table (row filter ``customer_id = :visitor_id``) and the
named query ``get_order_status(order_id)``; then times, over ``--runs`` calls each:

* ``tool_run``: the full path the assistant takes (lookup, argument checks, SQL guard, new
  read-only connection, statement, row/size caps, audit row);
* raw, new connection: the same statement with the raw driver, connecting each time as the
  tool does (connect, read-only transaction, execute, fetch, close);
* raw, open connection: the same statement on a connection kept open (the database's own
  time plus one round trip).

Everything is dropped afterwards. Usage:
    python -m bench named_query [--runs 300] [--engine postgresql|mysql|both]
Target servers: BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and
BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/test).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

ORDERS = 20_000  # rows of other customers around the visitor's 3
PASSWORD = "bench-" + secrets.token_hex(8)
SQL = "SELECT id, status, total FROM orders WHERE id = :order_id"
RAW_SQL = "SELECT id, status, total FROM orders WHERE id = %s AND customer_id = %s"


def _server(variable: str, default: str) -> dict[str, Any]:
    url = urlsplit(os.environ.get(variable) or default)
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "database": url.path.lstrip("/") or "test",
    }


class Target:
    """A scratch database with an orders table and a read-only role, on one engine."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        suffix = secrets.token_hex(4)
        self.database = f"aichat_bench_{suffix}"
        self.role = f"aichat_bench_ro_{suffix}"
        if engine == "postgresql":
            self.server = _server("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
            self.server["port"] = self.server["port"] or 5432
        else:
            self.server = _server("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
            self.server["port"] = self.server["port"] or 3306

    def admin(self, database: str) -> Any:
        s = self.server
        if self.engine == "postgresql":
            import psycopg

            return psycopg.connect(
                host=s["host"], port=s["port"], user=s["user"], password=s["password"] or None,
                dbname=database, autocommit=True,
            )  # fmt: skip
        import pymysql

        return pymysql.connect(
            host=s["host"], port=s["port"], user=s["user"], password=s["password"],
            database=database, autocommit=True,
        )  # fmt: skip

    def create(self) -> None:
        rows = [(i, 1 if i <= 3 else 1000 + i, "shipped", f"{i}.50") for i in range(1, ORDERS + 4)]
        root = self.admin(self.server["database"])
        with root.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.database}")
            if self.engine == "postgresql":
                cur.execute(f"CREATE ROLE {self.role} LOGIN PASSWORD '{PASSWORD}'")
            else:
                cur.execute(f"CREATE USER '{self.role}'@'%' IDENTIFIED BY '{PASSWORD}'")
                cur.execute(f"GRANT SELECT ON {self.database}.* TO '{self.role}'@'%'")
        root.close()
        conn = self.admin(self.database)
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL, "
                "status varchar(20) NOT NULL, total numeric(12,2) NOT NULL)"
            )
            cur.execute("CREATE INDEX orders_customer ON orders (customer_id)")
            cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", rows)
            if self.engine == "postgresql":
                cur.execute(f"GRANT SELECT ON orders TO {self.role}")
                cur.execute("ANALYZE orders")
        conn.close()

    def drop(self) -> None:
        root = self.admin(self.server["database"])
        with root.cursor() as cur:
            if self.engine == "postgresql":
                cur.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
                cur.execute(f"DROP ROLE IF EXISTS {self.role}")
            else:
                cur.execute(f"DROP DATABASE IF EXISTS {self.database}")
                cur.execute(f"DROP USER IF EXISTS '{self.role}'@'%'")
        root.close()

    def role_connection(self) -> Any:
        s = self.server
        if self.engine == "postgresql":
            import psycopg

            conn = psycopg.connect(
                host=s["host"], port=s["port"], user=self.role, password=PASSWORD,
                dbname=self.database,
            )  # fmt: skip
            conn.read_only = True
            return conn
        import pymysql

        return pymysql.connect(
            host=s["host"], port=s["port"], user=self.role, password=PASSWORD,
            database=self.database,
        )  # fmt: skip

    def raw_once(self, conn: Any, order_id: int) -> list[Any]:
        with conn.cursor() as cur:
            if self.engine == "mysql":
                cur.execute("START TRANSACTION READ ONLY")
            cur.execute(RAW_SQL, (order_id, "1"))
            rows = list(cur.fetchall())
        conn.rollback()
        return rows


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def timed(fn: Callable[[int], Any], runs: int) -> list[float]:
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        fn(1 + i % 3)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_engine(engine: str, runs: int) -> None:
    from django_tenants.utils import tenant_context

    from apps.connectors.services import connection_create, named_query_create, table_approve
    from apps.tenants.models import Tenant
    from apps.tools.registry import ToolContext, tool_run

    target = Target(engine)
    target.create()
    try:
        tenant = Tenant.objects.get(slug=BENCH_TENANT)
        with tenant_context(tenant):
            connection = connection_create(
                name=f"bench_{engine[:2]}",
                engine=engine,
                host=target.server["host"],
                port=target.server["port"],
                database=target.database,
                username=target.role,
                password=PASSWORD,
                sslmode="disable",
            )
            table_approve(
                connection=connection,
                table="orders",
                columns=["id", "customer_id", "status", "total"],
                row_filter="customer_id = :visitor_id",
            )
            query = named_query_create(
                name=f"get_order_status_{engine[:2]}",
                description="Status of one of the visitor's orders",
                connection=connection,
                sql=SQL,
                parameters=[{"name": "order_id", "type": "integer"}],
                summary_template="Looked up order {order_id}",
            )
            context = ToolContext(visitor_id="1", actor_label="bench")

            def via_tool(order_id: int) -> None:
                result = tool_run(
                    name=query.name, arguments={"order_id": order_id}, context=context
                )
                assert result.ok and len(result.data["rows"]) == 1, result

            def raw_new_connection(order_id: int) -> None:
                conn = target.role_connection()
                try:
                    assert len(target.raw_once(conn, order_id)) == 1
                finally:
                    conn.close()

            persistent = target.role_connection()

            def raw_open_connection(order_id: int) -> None:
                assert len(target.raw_once(persistent, order_id)) == 1

            for fn in (via_tool, raw_new_connection, raw_open_connection):
                timed(fn, 20)  # warm-up: caches, the guard's compiled SQL, server buffers
            tool = timed(via_tool, runs)
            new = timed(raw_new_connection, runs)
            open_ = timed(raw_open_connection, runs)
            persistent.close()
    finally:
        target.drop()
    (t50, t95), (n50, n95), (o50, o95) = percentiles(tool), percentiles(new), percentiles(open_)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{engine}: {runs} runs each (load average {load} on {os.cpu_count()} CPUs)")
    print(f"  tool_run (named query)          p50 {t50:6.2f} ms   p95 {t95:6.2f} ms")
    print(f"  raw driver, new connection      p50 {n50:6.2f} ms   p95 {n95:6.2f} ms")
    print(f"  raw driver, open connection     p50 {o50:6.2f} ms   p95 {o95:6.2f} ms")
    print(
        f"  added by tool_run: p50 {t50 - o50:+.2f} ms / p95 {t95 - o95:+.2f} ms over the open "
        f"connection, p50 {t50 - n50:+.2f} ms / p95 {t95 - n95:+.2f} ms over a new connection"
    )


BENCH_TENANT = f"bench-nq-{uuid.uuid4().hex[:6]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    args, _ = parser.parse_known_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.db import connection

    from apps.accounts.models import User
    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_create

    created = tenant_create(
        slug=BENCH_TENANT,
        name="Bench named query",
        domain=f"{BENCH_TENANT}.localhost",
        owner_email=f"owner-{BENCH_TENANT}@bench.test",
        owner_password="bench-password-123",
    )
    try:
        engines = ["postgresql", "mysql"] if args.engine == "both" else [args.engine]
        for engine in engines:
            try:
                bench_engine(engine, args.runs)
            except Exception as exc:  # a missing server skips that engine, loudly
                print(f"{engine}: skipped ({type(exc).__name__}: {exc})")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{created.tenant.schema_name}" CASCADE')
        Tenant.objects.filter(pk=created.tenant.pk).delete()
        User.objects.filter(email__endswith="@bench.test").delete()


if __name__ == "__main__":
    main()
