"""Real target databases for connector tests: scratch PostgreSQL and MariaDB databases.

Each test session creates its own databases (``aichat_conn_test_<random>``) and a login role
on the servers given by ``TEST_CONNECTORS_POSTGRES_URL`` (default: postgres@127.0.0.1:5432,
database test) and ``TEST_CONNECTORS_MYSQL_URL`` (default: root@127.0.0.1:3306, database
test), and drops them at the end. A server that does not answer skips its tests with a reason.

The data is built so that a leak is visible (see ``find_leaks``): the verified visitor is
customer 1 and every value they may see is a small number or a plain word; other customers'
rows carry "OTHER", dates in 2099 and numbers of 1000 or more; sensitive columns hold
"SENSITIVE..." and unapproved ones "UNAPPROVED...".

A second, *reference* database holds only what visitor 1 may see (their rows; sensitive and
unapproved columns blanked). A statement the guard accepts must return exactly what the same
statement returns there: a differential check of the row filters.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql
import pytest

from apps.connectors.engines import POOL, ColumnInfo, TableInfo
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, sql_tool_set, table_approve
from apps.llm.models import Assistant

VISITOR = "1"
OTHER_VISITOR = "1001"
ROLE_PASSWORD = "ro-" + secrets.token_hex(8)
LEAK_MARKERS = ("OTHER", "SENSITIVE", "UNAPPROVED", "2099")
OTHERS = 1200  # other customers, one order each: any aggregate over them shows >= 1000


@dataclass(frozen=True)
class Server:
    engine: str
    host: str
    port: int
    user: str
    password: str
    database: str


def _server(engine: str, variable: str, default: str) -> Server:
    url = urlsplit(os.environ.get(variable) or default)
    return Server(
        engine=engine,
        host=url.hostname or "127.0.0.1",
        port=url.port or (5432 if engine == "postgresql" else 3306),
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        database=url.path.lstrip("/") or "test",
    )


PG_SERVER = _server(
    "postgresql", "TEST_CONNECTORS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_SERVER = _server("mysql", "TEST_CONNECTORS_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


# --- Data -----------------------------------------------------------------------------------------


def dataset(*, reference: bool) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table. The reference data set holds only what visitor 1 may see."""
    customers: list[tuple[Any, ...]] = [
        (1, "Alice", "alice@SENSITIVE.example", "UNAPPROVED-1", "gold")
    ]
    orders: list[tuple[Any, ...]] = [
        (1, 1, "shipped", "10.50", "2024-01-05", "UNAPPROVED-note-1", "SENSITIVE-4111-1"),
        (2, 1, "pending", "20.00", "2024-02-10", "UNAPPROVED-note-2", "SENSITIVE-4111-2"),
        (3, 1, "delivered", "30.25", "2024-03-15", "UNAPPROVED-note-3", "SENSITIVE-4111-3"),
    ]
    products = [
        (1, "Widget", "9.99", 5001),
        (2, "Gadget", "19.50", 5002),
        (3, "Gizmo", "4.25", 5003),
        (4, "Doohickey", "99.00", 5004),
        (5, "Thingamajig", "7.75", 5005),
    ]
    if not reference:
        for i in range(OTHERS):
            cid = 1001 + i
            customers.append(
                (cid, f"OTHER customer {cid}", f"SENSITIVE-{cid}@x", f"UNAPPROVED-{cid}", "OTHER")
            )
            orders.append(
                (
                    1_000_001 + i,
                    cid,
                    f"OTHER-status-{i % 3}",
                    f"{1_000_000 + i}.00",
                    f"2099-01-{1 + i % 28:02d}",
                    f"UNAPPROVED-note-{cid}",
                    f"SENSITIVE-4111-{cid}",
                )
            )
    if reference:
        customers = [(c[0], c[1], None, None, c[4]) for c in customers]
        orders = [(*o[:5], None, None) for o in orders]
        products = [(*p[:3], None) for p in products]
    secrets_rows = [] if reference else [(1, "UNAPPROVED-secret-value")]
    return {"customers": customers, "orders": orders, "products": products, "secrets": secrets_rows}


PG_SCHEMA_SQL = """
CREATE TABLE public.customers (id integer PRIMARY KEY, name text NOT NULL, email text,
  ssn text, tier text);
CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer NOT NULL,
  status text NOT NULL, total numeric(12,2) NOT NULL, placed_on date NOT NULL,
  secret_note text, card_number text);
CREATE INDEX orders_customer ON public.orders (customer_id);
CREATE TABLE public.products (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2),
  cost integer);
CREATE TABLE public.numbers (n integer PRIMARY KEY);
INSERT INTO public.numbers SELECT generate_series(1, 999);
CREATE SCHEMA internal;
CREATE TABLE internal.secrets (id integer PRIMARY KEY, value text);
"""

MYSQL_SCHEMA_SQL = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100),"
    " ssn VARCHAR(100), tier VARCHAR(50))",
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(50) NOT NULL,"
    " total DECIMAL(12,2) NOT NULL, placed_on DATE NOT NULL, secret_note VARCHAR(100),"
    " card_number VARCHAR(100), KEY orders_customer (customer_id))",
    "CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2),"
    " cost INT)",
    "CREATE TABLE numbers (n INT PRIMARY KEY)",
    "CREATE TABLE secrets (id INT PRIMARY KEY, value VARCHAR(100))",
]

# What the tenant admin approves (the same on both engines).
APPROVALS = {
    "customers": {
        "columns": ["id", "name", "tier"],
        "sensitive": ["email"],
        "row_filter": "id = :visitor_id",
    },
    "orders": {
        "columns": ["id", "customer_id", "status", "total", "placed_on"],
        "sensitive": ["card_number"],
        "row_filter": "customer_id = :visitor_id",
    },
    "products": {"columns": ["id", "name", "price"], "sensitive": [], "row_filter": ""},
    "numbers": {"columns": ["n"], "sensitive": [], "row_filter": ""},
}
TABLE_COLUMNS = {
    "customers": ["id", "name", "email", "ssn", "tier"],
    "orders": ["id", "customer_id", "status", "total", "placed_on", "secret_note", "card_number"],
    "products": ["id", "name", "price", "cost"],
    "numbers": ["n"],
    "secrets": ["id", "value"],
}


# --- Scratch databases ----------------------------------------------------------------------------


@dataclass
class ScratchDatabase:
    """One engine's scratch database (+ reference database) and its login role."""

    server: Server
    database: str
    reference_database: str
    role: str
    initial_fingerprint: dict[str, Any] | None = None

    @property
    def engine(self) -> str:
        return self.server.engine

    @property
    def schema(self) -> str:
        return "public" if self.engine == "postgresql" else self.database

    def admin(self, database: str | None = None) -> Any:
        """A superuser connection to the scratch (or another) database, autocommit."""
        name = database or self.database
        if self.engine == "postgresql":
            return psycopg.connect(
                host=self.server.host, port=self.server.port, user=self.server.user,
                password=self.server.password or None, dbname=name, autocommit=True,
            )  # fmt: skip
        return pymysql.connect(
            host=self.server.host, port=self.server.port, user=self.server.user,
            password=self.server.password, database=name, autocommit=True,
        )  # fmt: skip

    def query(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        conn = self.admin(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def fingerprint(self) -> dict[str, Any]:
        """Row counts and checksums of every table, and the list of tables: any write shows."""
        result: dict[str, Any] = {}
        if self.engine == "postgresql":
            tables = self.query(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('public', 'internal') ORDER BY 1"
            )
            result["tables"] = [t[0] for t in tables]
            for (label,) in tables:
                # Table names come from the catalog of our own scratch database.
                checksum = "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                result[label] = self.query(f"SELECT count(*), {checksum} FROM {label} t")[0]  # noqa: S608
            result["large_objects"] = self.query("SELECT count(*) FROM pg_largeobject_metadata")
            result["roles"] = self.query("SELECT count(*) FROM pg_roles")
        else:
            where = f"table_schema = '{self.database}'"
            tables = self.query(
                f"SELECT table_name FROM information_schema.tables WHERE {where} ORDER BY 1"  # noqa: S608
            )
            result["tables"] = [t[0] for t in tables]
            for (name,) in tables:
                count = self.query(f"SELECT count(*) FROM `{name}`")[0]  # noqa: S608
                checksum = self.query(f"CHECKSUM TABLE `{name}`")[0][1]
                result[name] = (count, checksum)
            result["users"] = self.query("SELECT count(*) FROM mysql.user")
        return result

    def reference_rows(self, sql: str) -> list[tuple[Any, ...]] | None:
        """What ``sql`` returns on the reference database (None if it does not run there)."""
        conn = self.admin(self.reference_database)
        try:
            with conn.cursor() as cur:
                if self.engine == "postgresql":
                    cur.execute("BEGIN READ ONLY")
                else:
                    cur.execute("START TRANSACTION READ ONLY")
                cur.execute(sql)
                rows = list(cur.fetchall())
                conn.rollback()
                return rows
        except Exception:
            return None
        finally:
            conn.close()


def _load(conn: Any, engine: str, reference: bool) -> None:
    data = dataset(reference=reference)
    with conn.cursor() as cur:
        if engine == "postgresql":
            cur.execute(PG_SCHEMA_SQL)
        else:
            for statement in MYSQL_SCHEMA_SQL:
                cur.execute(statement)
            cur.executemany("INSERT INTO numbers VALUES (%s)", [(n,) for n in range(1, 1000)])
        for table, rows in data.items():
            if not rows:
                continue
            name = "internal.secrets" if (table == "secrets" and engine == "postgresql") else table
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608


def _create_postgres(server: Server) -> ScratchDatabase:
    suffix = secrets.token_hex(4)
    scratch = ScratchDatabase(
        server,
        f"aichat_conn_test_{suffix}",
        f"aichat_conn_ref_{suffix}",
        f"aichat_conn_ro_{suffix}",
    )
    root = scratch.admin(server.database)
    try:
        with root.cursor() as cur:
            cur.execute(f"CREATE DATABASE {scratch.database}")
            cur.execute(f"CREATE DATABASE {scratch.reference_database}")
            # The role the connection uses. It is given more than the docs recommend (it could
            # write, and read tables nobody approved) so that the tests prove the guard and the
            # read-only transaction hold on their own, not thanks to the grants.
            cur.execute(f"CREATE ROLE {scratch.role} LOGIN PASSWORD '{ROLE_PASSWORD}'")
    finally:
        root.close()
    for name, reference in ((scratch.database, False), (scratch.reference_database, True)):
        conn = scratch.admin(name)
        try:
            _load(conn, "postgresql", reference)
            with conn.cursor() as cur:
                cur.execute(
                    f"GRANT USAGE ON SCHEMA public, internal TO {scratch.role};"
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, internal"
                    f" TO {scratch.role};"
                )
        finally:
            conn.close()
    return scratch


def _drop_postgres(scratch: ScratchDatabase) -> None:
    root = scratch.admin(scratch.server.database)
    try:
        with root.cursor() as cur:
            for name in (scratch.database, scratch.reference_database):
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cur.execute(f"DROP ROLE IF EXISTS {scratch.role}")
    finally:
        root.close()


def _create_mysql(server: Server) -> ScratchDatabase:
    suffix = secrets.token_hex(4)
    scratch = ScratchDatabase(
        server, f"aichat_conn_test_{suffix}", f"aichat_conn_ref_{suffix}", f"aichat_ro_{suffix}"
    )
    root = scratch.admin(server.database)
    try:
        with root.cursor() as cur:
            cur.execute(f"CREATE DATABASE {scratch.database}")
            cur.execute(f"CREATE DATABASE {scratch.reference_database}")
            cur.execute(f"CREATE USER '{scratch.role}'@'%' IDENTIFIED BY '{ROLE_PASSWORD}'")
            # More than the docs recommend, on purpose (see _create_postgres).
            cur.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON {scratch.database}.* TO '{scratch.role}'@'%'"
            )
    finally:
        root.close()
    for name, reference in ((scratch.database, False), (scratch.reference_database, True)):
        conn = scratch.admin(name)
        try:
            _load(conn, "mysql", reference)
        finally:
            conn.close()
    return scratch


def _drop_mysql(scratch: ScratchDatabase) -> None:
    root = scratch.admin(scratch.server.database)
    try:
        with root.cursor() as cur:
            for name in (scratch.database, scratch.reference_database):
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"DROP USER IF EXISTS '{scratch.role}'@'%'")
    finally:
        root.close()


def _reachable(server: Server) -> str:
    try:
        if server.engine == "postgresql":
            psycopg.connect(
                host=server.host, port=server.port, user=server.user,
                password=server.password or None, dbname=server.database, connect_timeout=3,
            ).close()  # fmt: skip
        else:
            pymysql.connect(
                host=server.host, port=server.port, user=server.user, password=server.password,
                database=server.database, connect_timeout=3,
            ).close()  # fmt: skip
    except Exception as exc:
        return f"{server.engine} test server {server.host}:{server.port} not reachable: {exc}"
    return ""


@pytest.fixture(autouse=True)
def _empty_connection_pool() -> Iterator[None]:
    """Pooled driver connections never outlive a test (nor its tenant configuration)."""
    yield
    POOL.clear()


@pytest.fixture(scope="session")
def pg_scratch() -> Iterator[ScratchDatabase]:
    reason = _reachable(PG_SERVER)
    if reason:
        pytest.skip(reason)
    scratch = _create_postgres(PG_SERVER)
    scratch.initial_fingerprint = scratch.fingerprint()
    try:
        yield scratch
    finally:
        _drop_postgres(scratch)


@pytest.fixture(scope="session")
def mysql_scratch() -> Iterator[ScratchDatabase]:
    reason = _reachable(MYSQL_SERVER)
    if reason:
        pytest.skip(reason)
    scratch = _create_mysql(MYSQL_SERVER)
    scratch.initial_fingerprint = scratch.fingerprint()
    try:
        yield scratch
    finally:
        _drop_mysql(scratch)


@pytest.fixture(params=["postgresql", "mysql"])
def scratch(request) -> ScratchDatabase:
    """Each test using this runs once per engine."""
    name = "pg_scratch" if request.param == "postgresql" else "mysql_scratch"
    return request.getfixturevalue(name)


# --- Tenant configuration -------------------------------------------------------------------------


def introspected(scratch: ScratchDatabase) -> list[TableInfo]:
    """What introspection returns for the scratch database (saves a round trip per test)."""
    return [
        TableInfo(scratch.schema, table, "table", tuple(ColumnInfo(c, "text") for c in columns))
        for table, columns in TABLE_COLUMNS.items()
        if table != "secrets"
    ]


def connection_for(
    scratch: ScratchDatabase,
    *,
    name: str = "shop",
    assistant: Assistant | None = None,
    **extra: Any,
) -> Connection:
    """A connection in the current tenant, tables approved, SQL tool on (for ``assistant``)."""
    connection = connection_create(
        name=name,
        engine=scratch.engine,
        host=scratch.server.host,
        port=scratch.server.port,
        database=scratch.database,
        username=scratch.role,
        password=ROLE_PASSWORD,
        sslmode="disable",
        **extra,
    )
    tables = introspected(scratch)
    for table, approval in APPROVALS.items():
        table_approve(
            connection=connection,
            table=f"{scratch.schema}.{table}",
            columns=approval["columns"],
            sensitive=approval["sensitive"],
            row_filter=approval["row_filter"],
            introspected=tables,
        )
    sql_tool_set(connection=connection, enabled=True, assistants=[assistant] if assistant else [])
    return connection


@pytest.fixture
def assistant(in_tenant_a) -> Assistant:
    return Assistant.objects.create(name="Support")


@pytest.fixture
def shop(in_tenant_a, scratch, assistant) -> Connection:
    """Tenant alpha's connection to the scratch database of the engine under test."""
    return connection_for(scratch, assistant=assistant)


# --- Leak detection -------------------------------------------------------------------------------


def find_leaks(value: Any) -> list[str]:
    """Every marker string or large number found anywhere in ``value``."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.extend(f"{m} in {item[:80]!r}" for m in LEAK_MARKERS if m in item)
            try:
                number = float(item)
            except ValueError:
                return
            if abs(number) >= 1000:
                found.append(f"number {item}")
        elif isinstance(item, bool) or item is None:
            return
        elif isinstance(item, int | float):
            if abs(item) >= 1000:
                found.append(f"number {item}")
        elif isinstance(item, dict):
            for v in item.values():
                walk(v)
        elif isinstance(item, list | tuple):
            for v in item:
                walk(v)
        else:
            walk(str(item))

    walk(value)
    return found


@pytest.fixture
def run_sql() -> Callable[..., Any]:
    from apps.tools.registry import ToolContext, tool_run

    def run(sql: str, *, visitor: str | None = VISITOR, name: str = "sql_shop") -> Any:
        return tool_run(name=name, arguments={"sql": sql}, context=ToolContext(visitor_id=visitor))

    return run
