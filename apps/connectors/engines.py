"""Database engines behind one small interface: test, introspect, run one read-only SELECT.

An engine knows how to reach one kind of server with the connection's own least-privilege
user, in a READ ONLY transaction with a statement timeout, and how to turn driver failures into
coded errors that say what went wrong (DNS, refused, auth, TLS, timeout) without secrets.
PostgreSQL and MySQL/MariaDB speak SQL and are guarded by ``sqlguard``; an engine for a
non-SQL store (MongoDB) would implement the same interface with ``dialect = ""``, get named
queries in its own query language and no free-form SQL tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from typing import Any, ClassVar

from apps.core.errors import AppError

# --- Errors ---------------------------------------------------------------------------------------


class ConnectionFailed(AppError):
    """The database could not be reached; ``code`` says why (dns_failed, auth_failed, ...)."""

    code = "connection_failed"
    http_status = 502


class QueryFailed(AppError):
    code = "query_failed"
    http_status = 502


class QueryTimeout(QueryFailed):
    code = "query_timeout"


class StaleConnection(Exception):
    """A pooled connection turned out to be dead; the caller retries with a new one."""


class ConnectionPool:
    """Idle driver connections per (tenant schema + connection id, settings fingerprint).

    Opening a connection (TCP, TLS, authentication, a cold server backend) costs more than a
    small query; reusing one keeps a named query's round trip close to the database's own
    time. Only connections whose last transaction was rolled back cleanly come back; they are
    dropped after ``CONNECTORS_POOL_IDLE_SECONDS`` and at most ``CONNECTORS_POOL_SIZE`` are
    kept per key (0 turns pooling off). Nothing visitor-specific lives here: each use starts
    a fresh read-only transaction and the visitor id is a bound parameter.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[tuple[float, Any]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _limits() -> tuple[int, float]:
        from django.conf import settings

        return int(settings.CONNECTORS_POOL_SIZE), float(settings.CONNECTORS_POOL_IDLE_SECONDS)

    def take(self, key: tuple[str, str]) -> Any | None:
        size, max_idle = self._limits()
        if size <= 0:
            return None
        expired: list[Any] = []
        found = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                since, conn = idle.pop()
                if time.monotonic() - since <= max_idle:
                    found = conn
                    break
                expired.append(conn)
        for conn in expired:
            with contextlib.suppress(Exception):
                conn.close()
        return found

    def give(self, key: tuple[str, str], conn: Any) -> None:
        size, _ = self._limits()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < size:
                idle.append((time.monotonic(), conn))
                return
        with contextlib.suppress(Exception):
            conn.close()

    def clear(self, *, close: bool = True) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        if close:
            for entries in idle.values():
                for _, conn in entries:
                    with contextlib.suppress(Exception):
                        conn.close()


POOL = ConnectionPool()
# A forked child (a Celery worker) must not share its parent's sockets: forget, do not close.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: POOL.clear(close=False))


# --- Data passed to engines -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionParams:
    engine: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False, default="")
    sslmode: str = "prefer"
    ssl_root_cert: str = field(repr=False, default="")
    connect_timeout: float = 5.0
    statement_timeout_ms: int = 5000
    # Which pool an idle connection may go back to: tenant schema and connection id, so that
    # no driver connection is ever shared between tenants or connections.
    pool_key: str = ""

    def fingerprint(self) -> str:
        """Changes whenever anything that shapes a session changes (password included)."""
        return hashlib.sha256(repr(astuple(self)).encode()).hexdigest()


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # "table" | "view"
    columns: tuple[ColumnInfo, ...]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    db_ms: float  # time spent executing and fetching, as measured around the driver calls


class Engine(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect; "" for engines without SQL
    default_port: ClassVar[int]

    @abstractmethod
    def default_schema(self, params: ConnectionParams) -> str:
        """The schema an unqualified table name refers to."""

    @abstractmethod
    def test(self, params: ConnectionParams) -> str:
        """Connect, run a trivial query; return the server version. Raise ConnectionFailed."""

    @abstractmethod
    def introspect(self, params: ConnectionParams) -> list[TableInfo]:
        """Tables and views the connection's user can see, with their columns and types."""

    @abstractmethod
    def connect(self, params: ConnectionParams) -> Any:
        """A new driver connection, session limits set. Raise ConnectionFailed."""

    @abstractmethod
    def execute(self, conn: Any, sql: str, args: dict[str, Any], max_rows: int) -> QueryResult:
        """Run one SELECT in a READ ONLY transaction and roll it back. Raise QueryFailed;
        raise StaleConnection when the connection itself is dead."""

    @abstractmethod
    def reusable(self, conn: Any) -> bool:
        """Whether ``conn`` is healthy, idle and may go back to the pool."""

    def run_select(
        self, params: ConnectionParams, sql: str, args: dict[str, Any], *, max_rows: int
    ) -> QueryResult:
        """Run one guarded SELECT in a READ ONLY transaction; fetch at most ``max_rows``.

        Connections are reused from a small per-process pool (see ``ConnectionPool``); one
        that died while idle is replaced once, transparently (the statement only reads).
        """
        key = (params.pool_key, params.fingerprint())
        conn = POOL.take(key)
        if conn is not None:
            try:
                return self._execute_and_release(key, conn, sql, args, max_rows, params)
            except StaleConnection:
                pass
        conn = self.connect(params)
        try:
            return self._execute_and_release(key, conn, sql, args, max_rows, params)
        except StaleConnection:
            raise QueryFailed("The connection to the database was lost.") from None

    def _execute_and_release(
        self,
        key: tuple[str, str],
        conn: Any,
        sql: str,
        args: dict[str, Any],
        max_rows: int,
        params: ConnectionParams,
    ) -> QueryResult:
        try:
            result = self.execute(conn, sql, args, max_rows)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.close()
            if isinstance(exc, QueryTimeout):
                raise QueryTimeout(
                    f"The query ran longer than {params.statement_timeout_ms} ms and was stopped."
                ) from None
            raise
        if self.reusable(conn):
            POOL.give(key, conn)
        else:
            with contextlib.suppress(Exception):
                conn.close()
        return result


def resolve_or_fail(params: ConnectionParams) -> None:
    """Resolve the host first, so that a DNS failure gets its own clear reason."""
    try:
        socket.getaddrinfo(params.host, params.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionFailed(
            f"DNS: the host name '{params.host}' does not resolve.", code="dns_failed"
        ) from exc


@contextlib.contextmanager
def _ca_file(pem: str) -> Iterator[str | None]:
    """The CA certificate as a file for the driver, removed as soon as the connection is up."""
    if not pem.strip():
        yield None
        return
    handle, path = tempfile.mkstemp(prefix="aichat-ca-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(pem)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _classify(message: str) -> tuple[str, str]:
    """(code, reason) from a driver's connection error text."""
    text = message.lower()
    checks = [
        (("could not translate host name", "name or service not known", "nodename nor servname",
          "getaddrinfo"), "dns_failed", "DNS: the host name does not resolve."),
        (("timeout expired", "timed out"), "timeout", "Timeout: the server did not answer in time."),
        (("connection refused", "errno 111"),
         "connection_refused", "Refused: nothing accepts connections on that host and port."),
        (("password authentication failed", "access denied for user", "no pg_hba.conf entry",
          "authentication failed", "role \"", "password is required"),
         "auth_failed", "Authentication failed: check the user name and password."),
        (("ssl", "tls", "certificate"), "tls_failed",
         "TLS failed: the server's TLS settings or certificate do not match the connection's."),
        (("timeout", "timed out"), "timeout", "Timeout: the server did not answer in time."),
        (("does not exist", "unknown database"), "database_not_found",
         "The database does not exist on that server (or the user may not see it)."),
    ]  # fmt: skip
    for needles, code, reason in checks:
        if any(needle in text for needle in needles):
            return code, reason
    return "connection_failed", "The connection failed."


# --- PostgreSQL -----------------------------------------------------------------------------------

_PG_INTROSPECT = """
SELECT c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
  AND c.table_schema NOT LIKE 'pg\\_%%'
ORDER BY c.table_schema, c.table_name, c.ordinal_position
LIMIT 20000
"""

# SQLSTATE classes whose messages help the model fix its query and carry no row data.
_PG_SAFE_MESSAGE_CLASSES = ("42", "0A", "22", "25")


class PostgresEngine(Engine):
    key = "postgresql"
    label = "PostgreSQL"
    dialect = "postgres"
    default_port = 5432

    def default_schema(self, params: ConnectionParams) -> str:
        return "public"

    def _connect(self, params: ConnectionParams) -> Any:
        import psycopg

        timeout = params.statement_timeout_ms
        # Session settings travel in the startup packet: no extra round trip. search_path is
        # pg_catalog only, so no table or function of the tenant's can shadow a built-in (the
        # guard qualifies every table with its schema).
        options = (
            f"-c statement_timeout={timeout} -c lock_timeout={timeout} "
            f"-c idle_in_transaction_session_timeout={timeout * 2 + 1000} "
            "-c default_transaction_read_only=on -c search_path=pg_catalog "
            "-c standard_conforming_strings=on"
        )
        with _ca_file(params.ssl_root_cert) as ca_path:
            kwargs: dict[str, Any] = {
                "host": params.host,
                "port": params.port,
                "dbname": params.database,
                "user": params.user,
                "password": params.password or None,
                "sslmode": params.sslmode,
                "connect_timeout": max(2, round(params.connect_timeout)),
                "application_name": "aichat-tools",
                "options": options,
                "autocommit": False,
            }
            if ca_path:
                kwargs["sslrootcert"] = ca_path
            try:
                conn = psycopg.connect(**kwargs)
            except psycopg.OperationalError as exc:
                code, reason = _classify(str(exc))
                raise ConnectionFailed(reason, code=code) from None
        conn.read_only = True
        return conn

    def test(self, params: ConnectionParams) -> str:
        resolve_or_fail(params)
        conn = self._connect(params)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_catalog.version()")
                row = cur.fetchone()
            conn.rollback()
        finally:
            conn.close()
        return str(row[0]).split(" on ")[0] if row else "PostgreSQL"

    def introspect(self, params: ConnectionParams) -> list[TableInfo]:
        rows = self.run_select(params, _PG_INTROSPECT, {}, max_rows=20000).rows
        return _group_tables(rows)

    def connect(self, params: ConnectionParams) -> Any:
        return self._connect(params)

    def reusable(self, conn: Any) -> bool:
        from psycopg.pq import TransactionStatus

        return not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE

    def execute(self, conn: Any, sql: str, args: dict[str, Any], max_rows: int) -> QueryResult:
        import psycopg
        from psycopg import errors as pg_errors

        try:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(sql, args)
                columns = [d.name for d in cur.description or []]
                rows = cur.fetchmany(max_rows)
            conn.rollback()
            return QueryResult(columns, rows, (time.perf_counter() - started) * 1000)
        except pg_errors.QueryCanceled:
            raise QueryTimeout("The query ran too long and was stopped.") from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if conn.closed or getattr(exc, "sqlstate", None) is None:
                raise StaleConnection() from None
            raise QueryFailed(f"The query failed: {_first_line(exc)}") from None
        except pg_errors.ReadOnlySqlTransaction:
            raise QueryFailed(
                "The database refused a write: this connection is read only.", code="read_only"
            ) from None
        except pg_errors.InsufficientPrivilege as exc:
            raise QueryFailed(
                f"The database user may not read this: {_first_line(exc)}",
                code="permission_denied",
            ) from None
        except psycopg.Error as exc:
            sqlstate = getattr(exc, "sqlstate", None) or ""
            if sqlstate.startswith(_PG_SAFE_MESSAGE_CLASSES):
                raise QueryFailed(f"The database refused the query: {_first_line(exc)}") from None
            raise QueryFailed(f"The query failed (SQLSTATE {sqlstate or 'unknown'}).") from None


# --- MySQL / MariaDB ------------------------------------------------------------------------------

_MYSQL_INTROSPECT = """
SELECT c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
ORDER BY c.table_schema, c.table_name, c.ordinal_position
LIMIT 20000
"""

# Error numbers whose messages help the model and carry no row data.
_MYSQL_SAFE_ERRNOS = {1052, 1054, 1064, 1109, 1111, 1146, 1247, 1248, 1250, 1305, 1327}
_MYSQL_TIMEOUT_ERRNOS = {1969, 3024, 1317, 1028}
_MYSQL_READ_ONLY_ERRNOS = {1792, 1290, 1036}
_MYSQL_DENIED_ERRNOS = {1142, 1143, 1044, 1227}
# The server went away or the socket broke (the connection, not the query, failed).
_MYSQL_GONE_ERRNOS = {2006, 2013, 2055, 0}


class MySqlEngine(Engine):
    key = "mysql"
    label = "MySQL / MariaDB"
    dialect = "mysql"
    default_port = 3306

    def default_schema(self, params: ConnectionParams) -> str:
        return params.database

    def _ssl_args(self, params: ConnectionParams, ca_path: str | None) -> dict[str, Any]:
        mode = params.sslmode
        if mode == "disable":
            return {"ssl_disabled": True}
        context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        if mode in ("prefer", "require") or context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif mode == "verify-ca":
            context.check_hostname = False
        return {"ssl": context}

    def _connect(self, params: ConnectionParams) -> Any:
        import pymysql

        with _ca_file(params.ssl_root_cert) as ca_path:
            try:
                conn = pymysql.connect(
                    host=params.host,
                    port=params.port,
                    user=params.user,
                    password=params.password,
                    database=params.database,
                    connect_timeout=params.connect_timeout,
                    # A socket-level backstop; the server-side statement limit fires first.
                    read_timeout=params.statement_timeout_ms / 1000 + 5,
                    write_timeout=params.statement_timeout_ms / 1000 + 5,
                    charset="utf8mb4",
                    autocommit=False,
                    local_infile=False,
                    **self._ssl_args(params, ca_path),
                )
            except pymysql.err.OperationalError as exc:
                code, reason = _classify(str(exc.args[1] if len(exc.args) > 1 else exc))
                if exc.args and exc.args[0] == 1045:
                    code, reason = _classify("access denied for user")
                elif exc.args and exc.args[0] in (1044, 1049):
                    code, reason = _classify("unknown database")
                raise ConnectionFailed(reason, code=code) from None
            except ssl.SSLError:
                code, reason = _classify("ssl")
                raise ConnectionFailed(reason, code=code) from None
            except (TimeoutError, OSError) as exc:
                code, reason = _classify(str(exc) or "timeout")
                raise ConnectionFailed(reason, code=code) from None
        if params.sslmode in ("require", "verify-ca", "verify-full") and not isinstance(
            getattr(conn, "_sock", None), ssl.SSLSocket
        ):
            conn.close()
            raise ConnectionFailed("TLS failed: the server does not offer TLS.", code="tls_failed")
        try:
            with conn.cursor() as cur:
                seconds = params.statement_timeout_ms / 1000
                if "mariadb" in conn.get_server_info().lower():
                    cur.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
                else:
                    cur.execute(f"SET SESSION max_execution_time = {params.statement_timeout_ms}")
        except Exception:
            conn.close()
            raise
        return conn

    def test(self, params: ConnectionParams) -> str:
        resolve_or_fail(params)
        conn = self._connect(params)
        try:
            return str(conn.get_server_info())
        finally:
            conn.close()

    def introspect(self, params: ConnectionParams) -> list[TableInfo]:
        rows = self.run_select(params, _MYSQL_INTROSPECT, {}, max_rows=20000).rows
        return _group_tables(rows)

    def connect(self, params: ConnectionParams) -> Any:
        return self._connect(params)

    def reusable(self, conn: Any) -> bool:
        return bool(conn.open)

    def execute(self, conn: Any, sql: str, args: dict[str, Any], max_rows: int) -> QueryResult:
        import pymysql

        try:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("START TRANSACTION READ ONLY")
                # Always pass a dict so that '%%' in the guarded SQL means '%'.
                cur.execute(sql, args)
                columns = [d[0] for d in cur.description or []]
                rows = list(cur.fetchmany(max_rows))
            conn.rollback()
            return QueryResult(columns, rows, (time.perf_counter() - started) * 1000)
        except pymysql.err.MySQLError as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            message = str(exc.args[1]) if len(exc.args) > 1 else ""
            if errno in _MYSQL_GONE_ERRNOS:
                raise StaleConnection() from None
            if errno in _MYSQL_TIMEOUT_ERRNOS:
                raise QueryTimeout("The query ran too long and was stopped.") from None
            if errno in _MYSQL_READ_ONLY_ERRNOS:
                raise QueryFailed(
                    "The database refused a write: this connection is read only.",
                    code="read_only",
                ) from None
            if errno in _MYSQL_DENIED_ERRNOS:
                raise QueryFailed(
                    f"The database user may not read this: {message[:200]}",
                    code="permission_denied",
                ) from None
            if errno in _MYSQL_SAFE_ERRNOS:
                raise QueryFailed(f"The database refused the query: {message[:300]}") from None
            raise QueryFailed(f"The query failed (MySQL error {errno or 'unknown'}).") from None
        except (OSError, AttributeError):  # a socket closed under the driver
            raise StaleConnection() from None


# --- Helpers --------------------------------------------------------------------------------------


def _group_tables(rows: list[tuple[Any, ...]]) -> list[TableInfo]:
    tables: dict[tuple[str, str], tuple[str, list[ColumnInfo]]] = {}
    for schema, table, table_type, column, data_type in rows:
        kind = "view" if "VIEW" in str(table_type).upper() else "table"
        entry = tables.setdefault((str(schema), str(table)), (kind, []))
        entry[1].append(ColumnInfo(str(column), str(data_type)))
    return [
        TableInfo(schema, name, kind, tuple(columns))
        for (schema, name), (kind, columns) in tables.items()
    ]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


ENGINES: dict[str, Engine] = {engine.key: engine for engine in (PostgresEngine(), MySqlEngine())}


def get_engine(key: str) -> Engine:
    try:
        return ENGINES[key]
    except KeyError:
        raise AppError(f"Unknown database engine '{key}'.", code="unknown_engine") from None
