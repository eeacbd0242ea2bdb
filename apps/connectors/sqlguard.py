"""The SQL guard: accept one read-only SELECT over approved tables and columns, and rewrite it.

The guard never forwards the text it was given. It parses it with sqlglot, checks every node of
the tree against allow-lists, rewrites the tree (schema-qualified tables, the row filter of every
filtered table, the row cap) and generates new SQL from the checked tree, without comments.
What the database runs is therefore exactly what was checked.

Rules, in the order they are applied (each refusal carries a stable ``reason``):

* one statement, a SELECT or a set operation of SELECTs (``not_select``, ``multiple_statements``);
* every node type is on an allow-list: no INTO/OUTFILE, locking clauses, writes in CTEs,
  LATERAL, VALUES, table functions, variables, schema-qualified calls (``construct_not_allowed``,
  ``into``, ``locking``, ``write``);
* every function is on an allow-list; file, network, sleep and admin functions are named on a
  deny list so the refusal says why (``function_denied``, ``function_not_allowed``);
* every table is approved (``table_not_approved``); every column reference resolves, in its own
  scope, to an approved column (``column_not_approved``) that is not sensitive
  (``sensitive_column``); ``*`` expands to the approved, non-sensitive columns only;
* in a scope with several tables every column is qualified (``qualify_columns``), and an
  unqualified column never silently refers to an outer query (``column_not_approved``);
* every reference to a table with a row filter becomes ``(SELECT * FROM schema.table AS
  aichat_rf WHERE <filter>) AS <alias>``, in subqueries, CTEs and joins alike;
* the outermost query gets ``LIMIT min(its own, cap + 1)`` (the extra row tells "truncated").
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from apps.core.errors import AppError

VISITOR_PARAM = "visitor_id"
ROW_FILTER_ALIAS = "aichat_rf"
_MYSQL_NO_LIMIT = 18446744073709551615  # MySQL's documented "no limit" value
MAX_SQL_CHARS = 20_000

DIALECTS = {"postgresql": "postgres", "mysql": "mysql"}


class SqlRefused(AppError):
    """The statement is not one the guard lets through; ``reason`` says which rule refused it."""

    code = "sql_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


# --- Policy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePolicy:
    """What may be read from one table. Column names as the database spells them."""

    schema: str
    name: str
    columns: tuple[str, ...]
    sensitive: frozenset[str] = frozenset()
    row_filter: str = ""

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Policy:
    """Everything the guard needs about one connection; hashable so results can be cached."""

    engine: str  # "postgresql" | "mysql"
    default_schema: str
    tables: tuple[TablePolicy, ...]

    @property
    def dialect(self) -> str:
        return DIALECTS[self.engine]

    def fold_column(self, name: str) -> str:
        # MySQL column names are case-insensitive; PostgreSQL catalog names are exact.
        return name.lower() if self.engine == "mysql" else name

    def table(self, schema: str, name: str) -> TablePolicy | None:
        for table in self.tables:
            if table.schema == schema and table.name == name:
                return table
        return None


@dataclass(frozen=True)
class GuardedSql:
    """The statement to run: driver SQL with ``%(name)s`` placeholders, and what it uses."""

    sql: str
    placeholders: frozenset[str]
    tables: tuple[str, ...]
    fetch_limit: int  # the LIMIT the outermost query now has
    row_cap: int

    @property
    def needs_visitor(self) -> bool:
        return VISITOR_PARAM in self.placeholders


# --- Allow-lists and deny-lists -------------------------------------------------------------------

# Structural node types a SELECT may contain. Functions are checked separately, below.
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery,
    exp.From, exp.Join, exp.Table, exp.TableAlias, exp.Alias, exp.Column, exp.Identifier,
    exp.Star, exp.Literal, exp.Boolean, exp.Null, exp.Where, exp.Group, exp.Having, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.Distinct, exp.Paren, exp.And, exp.Or,
    exp.Not, exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape, exp.Add, exp.Sub, exp.Mul,
    exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe, exp.Case, exp.If, exp.Cast, exp.DataType,
    exp.DataTypeParam, exp.Interval, exp.Exists, exp.Window, exp.WindowSpec, exp.Tuple,
    exp.Placeholder, exp.Filter, exp.WithinGroup, exp.JSONPath, exp.JSONPathRoot,
    exp.JSONPathKey, exp.JSONPathSubscript, exp.Var,
)  # fmt: skip

_ALLOWED_FUNCTIONS: tuple[type[exp.Func], ...] = (
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Coalesce, exp.Nullif, exp.Lower,
    exp.Upper, exp.Length, exp.Trim, exp.Substring, exp.Concat, exp.ConcatWs, exp.Replace,
    exp.Left, exp.Right, exp.Round, exp.Floor, exp.Ceil, exp.Abs, exp.Greatest, exp.Least,
    exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.CurrentTimestamp, exp.CurrentDate,
    exp.Date, exp.Year, exp.Month, exp.Day, exp.TimeToStr, exp.ToChar, exp.TsOrDsToDate,
    exp.TsOrDsToTimestamp, exp.Pad, exp.Pow, exp.Sqrt, exp.Sign, exp.Trunc, exp.GroupConcat,
    exp.LogicalAnd, exp.LogicalOr, exp.RowNumber, exp.Rank, exp.DenseRank, exp.Lag, exp.Lead,
    exp.FirstValue, exp.LastValue, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance,
    exp.VariancePop, exp.DateAdd, exp.DateSub, exp.DateDiff, exp.TimestampDiff, exp.StrToDate,
    exp.StrPosition, exp.If, exp.Case, exp.Cast, exp.Initcap, exp.LastDay, exp.DayOfWeek,
    exp.DayOfMonth, exp.DayOfYear, exp.Week, exp.WeekOfYear, exp.Quarter, exp.Exp, exp.Ln,
    exp.Log, exp.SplitPart, exp.PercentileCont, exp.PercentileDisc, exp.JSONExtract,
    exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar,
)  # fmt: skip

_ALLOWED_NODE_SET = frozenset(_ALLOWED_NODES) | {exp.LimitOptions}
_ALLOWED_FUNCTION_SET = frozenset(_ALLOWED_FUNCTIONS)

# Functions sqlglot does not model (it keeps them as "anonymous" calls) that are still harmless.
_ALLOWED_ANONYMOUS = frozenset(
    {"age", "now", "curdate", "date_part", "date_format", "make_date", "octet_length",
     "to_timestamp", "to_date", "unix_timestamp", "ifnull", "char_length", "character_length"}
)  # fmt: skip

# Named so that the refusal can say *why*: file, network, sleep, locking and admin functions.
DENIED_FUNCTIONS = frozenset(
    {
        # files and large objects
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir",
        "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_file_write",
        "pg_file_rename", "pg_file_unlink", "lo_import", "lo_export", "lo_get", "lo_put",
        "lo_open", "lo_creat", "lo_create", "lo_unlink", "lo_from_bytea", "loread", "lowrite",
        "load_file",
        # network and other databases
        "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_send_query",
        "dblink_get_result", "dblink_open", "dblink_fetch", "postgres_fdw_handler", "sys_exec",
        "sys_eval", "http_get", "http_post",
        # sleeping and load
        "pg_sleep", "pg_sleep_for", "pg_sleep_until", "sleep", "benchmark",
        # sessions, settings and administration
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "set_config", "current_setting", "pg_switch_wal", "pg_create_restore_point",
        "pg_logical_emit_message", "pg_notify", "pg_promote", "txid_current", "nextval",
        "setval", "currval", "lastval", "pg_advisory_lock", "pg_advisory_xact_lock",
        "pg_try_advisory_lock", "pg_try_advisory_xact_lock", "pg_advisory_lock_shared",
        "get_lock", "release_lock", "release_all_locks", "is_free_lock", "master_pos_wait",
        "source_pos_wait", "sys_get", "sys_set", "version", "current_user", "session_user",
        "user", "system_user", "database", "schema", "connection_id", "last_insert_id",
        # queries hidden in strings
        "query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml", "database_to_xml",
        "cursor_to_xml", "schema_to_xml", "xpath", "xmlparse", "extractvalue", "updatexml",
        "copy",
    }
)  # fmt: skip
_DENIED_PREFIXES = ("pg_", "lo_", "dblink", "sys_", "xml")

# Types a CAST may target. reg* types would turn strings into catalog look-ups.
_ALLOWED_CAST_TYPES = frozenset(
    {"TEXT", "VARCHAR", "CHAR", "NCHAR", "NVARCHAR", "BPCHAR", "NAME", "INT", "BIGINT",
     "SMALLINT", "TINYINT", "MEDIUMINT", "UINT", "UBIGINT", "USMALLINT", "UTINYINT", "DECIMAL",
     "BIGDECIMAL", "DOUBLE", "FLOAT", "BOOLEAN", "DATE", "TIME", "TIMETZ", "DATETIME",
     "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPLTZ", "INTERVAL", "JSON", "JSONB", "UUID", "MONEY",
     "SIGNED", "UNSIGNED"}
)  # fmt: skip

_SELECT_ARGS = frozenset(
    {"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having", "order",
     "limit", "offset"}
)  # fmt: skip
_SETOP_ARGS = frozenset({"this", "expression", "distinct", "with_", "order", "limit", "offset"})
_TABLE_ARGS = frozenset({"this", "db", "alias"})
_JOIN_ARGS = frozenset({"this", "on", "side", "kind", "using"})
_WRITE_NODES = tuple(
    getattr(exp, name)
    for name in ("Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable",
                 "Copy", "Command", "Set", "Use", "LoadData", "Grant", "Revoke", "Transaction",
                 "Commit", "Rollback", "Pragma", "Describe", "Show", "Kill", "Analyze")
    if hasattr(exp, name)
)  # fmt: skip
_FIRST_WORD = re.compile(r"^[\s(]*([A-Za-z]+)")
_INTO_FILE = re.compile(r"\binto\s+(outfile|dumpfile)\b", re.IGNORECASE)


# --- Entry point ----------------------------------------------------------------------------------


def guard_select(
    sql: str,
    policy: Policy,
    *,
    row_cap: int,
    params: Iterable[str] = (),
    trusted_author: bool = False,
) -> GuardedSql:
    """Check ``sql`` against ``policy`` and return the statement to run, or raise SqlRefused.

    ``trusted_author`` is for named queries, written by the tenant admin: they may use the
    placeholders ``params`` and ``:visitor_id``, and sensitive columns in WHERE and JOIN
    conditions (never in what the query returns). Free-form SQL (the model's) may do neither.
    """
    return _guard_cached(sql, policy, row_cap, frozenset(params), trusted_author)


@lru_cache(maxsize=512)
def _guard_cached(
    sql: str, policy: Policy, row_cap: int, params: frozenset[str], trusted_author: bool
) -> GuardedSql:
    try:
        tree = parse_one_select(sql, policy.dialect)
        return _Guard(policy, params, trusted_author).run(tree, row_cap)
    except RecursionError:
        raise SqlRefused("too_complex", "The query is nested too deeply.") from None


def parse_one_select(sql: str, dialect: str) -> exp.Expression:
    if not sql or not sql.strip():
        raise SqlRefused("empty", "The query is empty.")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused("too_long", f"The query is longer than {MAX_SQL_CHARS} characters.")
    if "\x00" in sql:
        raise SqlRefused("parse_error", "The query contains a NUL character.")
    if _INTO_FILE.search(sql):
        raise SqlRefused("into", "SELECT ... INTO OUTFILE/DUMPFILE is not allowed.")
    if "/*!" in sql or "/*+" in sql:
        raise SqlRefused(
            "executable_comment",
            "Executable comments and optimizer hints (/*! ... */, /*+ ... */) are not allowed.",
        )
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        first = _FIRST_WORD.match(sql)
        word = first.group(1).upper() if first else ""
        if word and word not in ("SELECT", "WITH", "TABLE"):
            raise SqlRefused("not_select", "Only SELECT statements are allowed.") from exc
        raise SqlRefused(
            "parse_error", f"The query could not be parsed: {_short(str(exc))}"
        ) from exc
    if not statements:
        raise SqlRefused("empty", "The query is empty.")
    if len(statements) > 1:
        raise SqlRefused("multiple_statements", "Send exactly one statement.")
    tree = statements[0]
    while isinstance(tree, exp.Subquery) and not tree.alias:
        tree = tree.this
    if isinstance(tree, _WRITE_NODES):
        raise SqlRefused("not_select", "Only SELECT statements are allowed.")
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise SqlRefused("not_select", "Only SELECT statements are allowed.")
    return tree


def parse_row_filter(text: str, policy: Policy) -> exp.Expression:
    """Parse and check a row filter: a condition over one table's own columns.

    Allowed: columns (unqualified), literals, ``:visitor_id``, comparisons, AND/OR/NOT, IN lists,
    IS [NOT] NULL, BETWEEN, LIKE and allow-listed functions. No subqueries.
    """
    if "/*" in text or "--" in text or "#" in text or ";" in text:
        raise SqlRefused("bad_row_filter", "A row filter may not contain comments or ';'.")
    try:
        condition = sqlglot.parse_one(f"SELECT 1 WHERE {text}", read=policy.dialect)
    except (ParseError, TokenError) as exc:
        raise SqlRefused(
            "bad_row_filter", f"The row filter does not parse: {_short(str(exc))}"
        ) from None
    where = condition.args.get("where") if isinstance(condition, exp.Select) else None
    if where is None or set(k for k, v in condition.args.items() if v) != {"expressions", "where"}:
        raise SqlRefused("bad_row_filter", "A row filter is a single condition.")
    predicate = where.this
    for node in predicate.walk():
        if isinstance(node, exp.Select | exp.Subquery | exp.Star | exp.Exists):
            raise SqlRefused("bad_row_filter", "A row filter may not contain subqueries.")
        if isinstance(node, exp.Column) and (node.table or node.args.get("db")):
            raise SqlRefused("bad_row_filter", "Name the columns of a row filter unqualified.")
        if isinstance(node, exp.Placeholder) and node.name != VISITOR_PARAM:
            raise SqlRefused(
                "bad_row_filter", f"A row filter may only use :{VISITOR_PARAM} as a parameter."
            )
        _check_node_type(node)
    return predicate


# --- The checker ----------------------------------------------------------------------------------


@dataclass
class _Source:
    alias: str
    alias_ident: exp.Identifier
    columns: tuple[str, ...]  # visible (returnable) columns, in order, as spelled
    folded: frozenset[str]
    sensitive: frozenset[str] = frozenset()
    table: TablePolicy | None = None


@dataclass
class _Scope:
    sources: dict[str, _Source]
    outer: _Scope | None
    ctes: Mapping[str, tuple[str, ...]]
    output_names: frozenset[str] = frozenset()

    def find(self, alias: str) -> _Source | None:
        scope: _Scope | None = self
        while scope is not None:
            if alias in scope.sources:
                return scope.sources[alias]
            scope = scope.outer
        return None


@dataclass
class _Guard:
    policy: Policy
    params: frozenset[str]
    trusted_author: bool
    used_tables: list[str] = field(default_factory=list)
    replacements: list[tuple[exp.Expression, exp.Expression]] = field(default_factory=list)
    checked_columns: set[int] = field(default_factory=set)

    # identifiers ------------------------------------------------------------------------------
    def table_name(self, ident: exp.Expression | None) -> str:
        if not isinstance(ident, exp.Identifier):
            raise SqlRefused("construct_not_allowed", "Tables must be named by identifiers.")
        if self.policy.engine == "postgresql" and not ident.quoted:
            return ident.this.lower()
        return ident.this

    def column_name(self, ident: exp.Identifier) -> str:
        if self.policy.engine == "mysql" or not ident.quoted:
            return ident.this.lower()
        return ident.this

    # whole statement --------------------------------------------------------------------------
    def run(self, tree: exp.Expression, row_cap: int) -> GuardedSql:
        for node in tree.walk():
            _check_node_type(node)
        self.check_query(tree, outer=None, ctes={})
        # Belt and braces: every column and placeholder of the tree went through a check.
        for column in tree.find_all(exp.Column):
            if id(column) not in self.checked_columns:
                raise SqlRefused("construct_not_allowed", "A column appears where none may.")
        for placeholder in tree.find_all(exp.Placeholder):
            self.check_placeholder(placeholder)
        fetch_limit = self.apply_limit(tree, row_cap)
        for old, new in self.replacements:
            old.replace(new)
        sql, placeholders = self.render(tree)
        return GuardedSql(
            sql=sql,
            placeholders=placeholders,
            tables=tuple(dict.fromkeys(self.used_tables)),
            fetch_limit=fetch_limit,
            row_cap=row_cap,
        )

    def apply_limit(self, tree: exp.Expression, row_cap: int) -> int:
        cap = row_cap + 1
        fetch = tree.args.get("fetch")
        existing = tree.args.get("limit") or fetch
        wanted = cap
        if existing is not None:
            if isinstance(existing, exp.Fetch) and (
                existing.args.get("percent") or existing.args.get("with_ties")
            ):
                raise SqlRefused("limit_not_literal", "FETCH ... PERCENT/WITH TIES is not allowed.")
            value = existing.args.get("expression") or existing.args.get("count")
            if not (isinstance(value, exp.Literal) and not value.is_string):
                raise SqlRefused("limit_not_literal", "LIMIT must be a plain number.")
            try:
                wanted = min(int(value.this), cap)
            except ValueError as exc:
                raise SqlRefused("limit_not_literal", "LIMIT must be a whole number.") from exc
        if fetch is not None:
            tree.set("fetch", None)
        tree.set("limit", exp.Limit(expression=exp.Literal.number(wanted)))
        return wanted

    def render(self, tree: exp.Expression) -> tuple[str, frozenset[str]]:
        """Generate SQL; placeholders become ``%(name)s`` and every other ``%`` is doubled."""
        marker = f"aichatp{secrets.token_hex(6)}x"
        names: list[str] = []
        for node in list(tree.find_all(exp.Placeholder)):
            names.append(node.name)
            node.replace(exp.Var(this=f"{marker}{len(names) - 1}z"))
        sql = tree.sql(dialect=self.policy.dialect, comments=False).replace("%", "%%")
        for index, name in enumerate(names):
            sql = sql.replace(f"{marker}{index}z", f"%({name})s")
        if marker in sql:  # pragma: no cover - would mean a marker was mangled
            raise SqlRefused("internal", "The query could not be prepared.")
        return sql, frozenset(names)

    # queries ----------------------------------------------------------------------------------
    def check_query(
        self, node: exp.Expression, outer: _Scope | None, ctes: Mapping[str, tuple[str, ...]]
    ) -> tuple[str, ...]:
        """Check a SELECT, set operation or parenthesised query; return its output names."""
        if isinstance(node, exp.Subquery):
            if node.alias:
                raise SqlRefused("construct_not_allowed", "Unexpected aliased subquery.")
            return self.check_query(node.this, outer, ctes)
        if isinstance(node, exp.SetOperation):
            _only_args(node, _SETOP_ARGS, "set operation")
            ctes = self.check_with(node, outer, ctes)
            left = self.check_query(node.this, outer, ctes)
            right = self.check_query(node.expression, outer, ctes)
            if len(left) != len(right):
                raise SqlRefused("column_count", "Each side of a UNION returns as many columns.")
            scope = _Scope(sources={}, outer=outer, ctes=ctes, output_names=frozenset(left))
            for key in ("order", "limit", "offset"):
                if node.args.get(key) is not None:
                    self.check_expr(node.args[key], scope, "order")
            return left
        if isinstance(node, exp.Select):
            return self.check_select(node, outer, ctes)
        raise SqlRefused("not_select", "Only SELECT queries are allowed here.")

    def check_with(
        self, node: exp.Expression, outer: _Scope | None, ctes: Mapping[str, tuple[str, ...]]
    ) -> Mapping[str, tuple[str, ...]]:
        with_ = node.args.get("with_")
        if with_ is None:
            return ctes
        if with_.args.get("recursive"):
            raise SqlRefused("recursive_cte", "Recursive CTEs are not allowed.")
        visible = dict(ctes)
        for cte in with_.expressions:
            if not isinstance(cte, exp.CTE) or cte.args.get("materialized") is not None:
                raise SqlRefused("construct_not_allowed", "Only plain CTEs are allowed.")
            if not isinstance(cte.this, exp.Select | exp.SetOperation | exp.Subquery):
                raise SqlRefused("write", "A CTE may only contain a SELECT.")
            names = self.check_query(cte.this, outer, visible)
            alias = cte.args.get("alias")
            name = self.table_name(alias.this if alias else None)
            declared = alias.columns if alias else []
            if declared:
                if len(declared) != len(names):
                    raise SqlRefused("column_count", f"CTE {name} names the wrong column count.")
                names = tuple(self.column_name(c) for c in declared)
            visible[name] = names
        return visible

    def check_select(
        self, select: exp.Select, outer: _Scope | None, ctes: Mapping[str, tuple[str, ...]]
    ) -> tuple[str, ...]:
        _only_args(select, _SELECT_ARGS, "SELECT")
        ctes = self.check_with(select, outer, ctes)
        sources: dict[str, _Source] = {}
        from_ = select.args.get("from_")
        if from_ is not None:
            self.add_source(sources, from_.this, outer, ctes)
        joins = select.args.get("joins") or []
        for join in joins:
            _only_args(join, _JOIN_ARGS, "JOIN")
            kind = (join.args.get("kind") or "").upper()
            if kind not in ("", "INNER", "CROSS", "OUTER"):
                raise SqlRefused("construct_not_allowed", f"{kind} JOIN is not allowed.")
            self.add_source(sources, join.this, outer, ctes)
        scope = _Scope(sources=sources, outer=outer, ctes=ctes)
        for join in joins:
            if join.args.get("on") is not None:
                self.check_expr(join.args["on"], scope, "predicate")
            for ident in join.args.get("using") or []:
                self.check_using(ident, join, sources)
        self.expand_stars(select, scope)
        names: list[str] = []
        for projection in select.expressions:
            self.check_expr(projection, scope, "output")
            names.append(self.output_name(projection))
        distinct = select.args.get("distinct")
        if distinct is not None:
            self.check_expr(distinct, scope, "output")
        if select.args.get("where") is not None:
            self.check_expr(select.args["where"], scope, "predicate")
        for key in ("group", "having", "limit", "offset"):
            if select.args.get(key) is not None:
                self.check_expr(select.args[key], scope, "output")
        if select.args.get("order") is not None:
            order_scope = _Scope(
                sources=sources, outer=outer, ctes=ctes, output_names=frozenset(names)
            )
            self.check_expr(select.args["order"], order_scope, "order")
        return tuple(names)

    def output_name(self, projection: exp.Expression) -> str:
        if isinstance(projection, exp.Alias):
            return self.column_name(projection.args["alias"])
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Identifier):
            return self.column_name(projection.this)
        return ""

    # sources ----------------------------------------------------------------------------------
    def add_source(
        self,
        sources: dict[str, _Source],
        node: exp.Expression,
        outer: _Scope | None,
        ctes: Mapping[str, tuple[str, ...]],
    ) -> None:
        if isinstance(node, exp.Table):
            source = self.table_source(node, ctes)
        elif isinstance(node, exp.Subquery):
            source = self.derived_source(node, outer, ctes)
        else:
            raise SqlRefused(
                "construct_not_allowed",
                f"Only tables and subqueries may appear in FROM ({node.key} found).",
            )
        if source.alias in sources:
            raise SqlRefused("duplicate_alias", f"The name {source.alias} is used twice.")
        sources[source.alias] = source

    def table_source(self, node: exp.Table, ctes: Mapping[str, tuple[str, ...]]) -> _Source:
        if not isinstance(node.this, exp.Identifier):
            raise SqlRefused("table_function", "Table functions are not allowed in FROM.")
        _only_args(node, _TABLE_ARGS, "table reference")
        alias_node = node.args.get("alias")
        if alias_node is not None and alias_node.columns:
            raise SqlRefused("construct_not_allowed", "Renaming a table's columns is not allowed.")
        name = self.table_name(node.this)
        alias_ident = alias_node.this if alias_node is not None else node.this
        alias = self.table_name(alias_ident)
        db = node.args.get("db")
        if db is None and name in ctes:
            columns = ctes[name]
            return _Source(alias, alias_ident, columns, frozenset(columns))
        schema = self.table_name(db) if db is not None else self.policy.default_schema
        policy = self.policy.table(schema, name)
        if policy is None:
            raise SqlRefused("table_not_approved", f"The table {schema}.{name} is not approved.")
        self.used_tables.append(policy.label)
        visible = tuple(c for c in policy.columns if c not in policy.sensitive)
        source = _Source(
            alias=alias,
            alias_ident=alias_ident.copy(),
            columns=visible,
            folded=frozenset(self.policy.fold_column(c) for c in visible),
            sensitive=frozenset(self.policy.fold_column(c) for c in policy.sensitive),
            table=policy,
        )
        self.replacements.append((node, self.table_replacement(policy, source)))
        return source

    def table_replacement(self, policy: TablePolicy, source: _Source) -> exp.Expression:
        """The schema-qualified table, or a filtered derived table when it has a row filter."""
        qualified = exp.Table(
            this=exp.to_identifier(policy.name, quoted=True),
            db=exp.to_identifier(policy.schema, quoted=True),
        )
        alias = exp.TableAlias(this=source.alias_ident.copy())
        if not policy.row_filter:
            qualified.set("alias", alias)
            return qualified
        predicate = parse_row_filter(policy.row_filter, self.policy).copy()
        for column in predicate.find_all(exp.Column):
            column.set("table", exp.to_identifier(ROW_FILTER_ALIAS))
        qualified.set("alias", exp.TableAlias(this=exp.to_identifier(ROW_FILTER_ALIAS)))
        # Only the columns the query may use, never "*": a reader granted column by column (as
        # the docs recommend) can run it, and nothing else of the row is ever in reach.
        usable = [c for c in policy.columns if c not in policy.sensitive]
        if self.trusted_author:
            usable += sorted(policy.sensitive)
        projection = [
            exp.column(exp.to_identifier(c, quoted=True), table=ROW_FILTER_ALIAS) for c in usable
        ]
        inner = exp.select(*projection).from_(qualified).where(exp.Paren(this=predicate))
        # An optimisation fence, so that no condition of the outer query is evaluated on rows
        # the filter removes (a failing cast or division would otherwise reveal them in an error
        # message): PostgreSQL never pushes conditions into a subquery with OFFSET, MySQL and
        # MariaDB never merge a derived table with LIMIT.
        if self.policy.engine == "postgresql":
            inner.set("offset", exp.Offset(expression=exp.Literal.number(0)))
        else:
            inner.set("limit", exp.Limit(expression=exp.Literal.number(_MYSQL_NO_LIMIT)))
        return exp.Subquery(this=inner, alias=alias)

    def derived_source(
        self, node: exp.Subquery, outer: _Scope | None, ctes: Mapping[str, tuple[str, ...]]
    ) -> _Source:
        alias_node = node.args.get("alias")
        if alias_node is None or not alias_node.this:
            raise SqlRefused("alias_required", "A subquery in FROM needs an alias.")
        if set(k for k, v in node.args.items() if v) - {"this", "alias"}:
            raise SqlRefused("construct_not_allowed", "Unexpected clause on a subquery.")
        # A derived table sees the enclosing queries' tables, never its siblings (no LATERAL).
        names = self.check_query(node.this, outer, ctes)
        if alias_node.columns:
            if len(alias_node.columns) != len(names):
                raise SqlRefused("column_count", "The subquery alias names too many columns.")
            names = tuple(self.column_name(c) for c in alias_node.columns)
        alias = self.table_name(alias_node.this)
        named = tuple(n for n in names if n)
        return _Source(alias, alias_node.this, named, frozenset(named))

    def check_using(self, ident: exp.Expression, join: exp.Join, sources: dict) -> None:
        if not isinstance(ident, exp.Identifier):
            raise SqlRefused("construct_not_allowed", "USING takes column names.")
        name = self.column_name(ident)
        right = self.table_name(
            join.this.args["alias"].this if join.this.args.get("alias") else join.this.this
        )
        holders = [s for s in sources.values() if name in s.folded]
        if sources[right] not in holders or len(holders) < 2:
            self.refuse_column(name, next(iter(sources.values())))

    def expand_stars(self, select: exp.Select, scope: _Scope) -> None:
        expanded: list[exp.Expression] = []
        changed = False
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                targets = list(scope.sources.values())
                if not targets:
                    raise SqlRefused("construct_not_allowed", "SELECT * needs a FROM clause.")
            elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                if projection.args.get("db"):
                    raise SqlRefused("qualified_name", "Qualify * with a table alias only.")
                alias = self.table_name(projection.args.get("table"))
                target = scope.sources.get(alias)
                if target is None:
                    raise SqlRefused("unknown_table", f"No table named {alias} in this query.")
                targets = [target]
            else:
                expanded.append(projection)
                continue
            changed = True
            for source in targets:
                if not source.columns:
                    raise SqlRefused(
                        "column_not_approved", f"No column of {source.alias} may be read."
                    )
                for column in source.columns:
                    node = exp.Column(
                        this=exp.to_identifier(column, quoted=True),
                        table=source.alias_ident.copy(),
                    )
                    self.checked_columns.add(id(node))
                    expanded.append(node)
        if changed:
            select.set("expressions", expanded)

    # expressions ------------------------------------------------------------------------------
    def check_expr(self, node: exp.Expression, scope: _Scope, context: str) -> None:
        if isinstance(node, exp.Select | exp.SetOperation):
            self.check_query(node, scope, scope.ctes)
            return
        if isinstance(node, exp.Subquery):
            if node.alias:
                raise SqlRefused("construct_not_allowed", "Unexpected aliased subquery.")
            self.check_query(node.this, scope, scope.ctes)
            return
        if isinstance(node, exp.Column):
            self.check_column(node, scope, context)
            return
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            raise SqlRefused("construct_not_allowed", "* is only allowed as SELECT * or COUNT(*).")
        if isinstance(node, exp.Placeholder):
            self.check_placeholder(node)
            return
        for child in node.iter_expressions():
            self.check_expr(child, scope, context)

    def check_placeholder(self, node: exp.Placeholder) -> None:
        name = node.name
        if not self.trusted_author:
            raise SqlRefused("placeholder", "Parameters are not allowed in free-form SQL.")
        if not name or (name not in self.params and name != VISITOR_PARAM):
            raise SqlRefused("placeholder", f"Unknown parameter :{name or '?'}.")

    def check_column(self, node: exp.Column, scope: _Scope, context: str) -> None:
        if not isinstance(node.this, exp.Identifier):
            raise SqlRefused("construct_not_allowed", "* is only allowed as SELECT *.")
        self.checked_columns.add(id(node))
        if node.args.get("db") or node.args.get("catalog"):
            raise SqlRefused("qualified_name", "Qualify columns with a table name or alias only.")
        name = self.column_name(node.this)
        qualifier = node.args.get("table")
        if qualifier is not None:
            alias = self.table_name(qualifier)
            source = scope.find(alias)
            if source is None:
                raise SqlRefused("unknown_table", f"No table named {alias} in this query.")
        else:
            if (
                context == "order"
                and name in scope.output_names
                and isinstance(node.parent, exp.Ordered)
            ):
                return  # ORDER BY <output column name>: both engines look at the output first
            if len(scope.sources) != 1:
                if not scope.sources:
                    raise SqlRefused(
                        "column_not_approved", f"The column {name} is not in this query."
                    )
                raise SqlRefused(
                    "qualify_columns",
                    f"Qualify the column {name} with its table: this query reads several tables.",
                )
            source = next(iter(scope.sources.values()))
        if name in source.folded:
            return
        if name in source.sensitive and self.trusted_author and context == "predicate":
            return
        self.refuse_column(name, source)

    def refuse_column(self, name: str, source: _Source) -> None:
        where = source.table.label if source.table else source.alias
        if name in source.sensitive:
            raise SqlRefused("sensitive_column", f"The column {name} of {where} is sensitive.")
        raise SqlRefused("column_not_approved", f"The column {name} of {where} is not approved.")


# --- Node checks ----------------------------------------------------------------------------------


def _check_node_type(node: exp.Expr) -> None:
    """Refuse any node whose exact type is not allowed (subclasses are not let in silently)."""
    kind = type(node)
    if kind in _ALLOWED_NODE_SET:
        if isinstance(node, exp.Cast):
            _check_cast(node)
        elif kind is exp.Var and not isinstance(node.parent, exp.Func | exp.Interval):
            raise SqlRefused("construct_not_allowed", f"Unexpected keyword {node.name}.")
        elif kind is exp.LimitOptions and (node.args.get("percent") or node.args.get("with_ties")):
            raise SqlRefused("limit_not_literal", "FETCH ... PERCENT/WITH TIES is not allowed.")
        return
    if isinstance(node, exp.Into):
        raise SqlRefused("into", "SELECT ... INTO (tables, files, variables) is not allowed.")
    if isinstance(node, exp.Lock):
        raise SqlRefused("locking", "Locking clauses (FOR UPDATE, FOR SHARE) are not allowed.")
    if isinstance(node, _WRITE_NODES):
        raise SqlRefused("write", "Only reads are allowed: no writes, DDL or commands.")
    if isinstance(node, exp.Func):
        _check_function(node)
        return
    raise SqlRefused("construct_not_allowed", f"{_describe(node)} is not allowed.")


def _check_function(node: exp.Func) -> None:
    name = function_name(node)
    if name in DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
        raise SqlRefused(
            "function_denied",
            f"The function {name} is never allowed (file, network, sleep or admin access).",
        )
    if type(node) is exp.Anonymous:
        if name in _ALLOWED_ANONYMOUS:
            return
    elif type(node) in _ALLOWED_FUNCTION_SET:
        return
    raise SqlRefused("function_not_allowed", f"The function {name} is not on the allow-list.")


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _check_cast(node: exp.Cast) -> None:
    target = node.args.get("to")
    type_name = getattr(getattr(target, "this", None), "name", "")
    if type_name not in _ALLOWED_CAST_TYPES:
        shown = target.sql() if isinstance(target, exp.Expression) else "?"
        raise SqlRefused("cast_not_allowed", f"Casting to {shown} is not allowed.")


def _only_args(node: exp.Expression, allowed: frozenset[str], what: str) -> None:
    extra = sorted(
        k for k, v in node.args.items() if v not in (None, False, []) and k not in allowed
    )
    if extra:
        if "into" in extra:
            raise SqlRefused("into", "SELECT ... INTO (tables, files, variables) is not allowed.")
        if "locks" in extra:
            raise SqlRefused("locking", "Locking clauses (FOR UPDATE, FOR SHARE) are not allowed.")
        raise SqlRefused(
            "construct_not_allowed", f"This {what} uses {', '.join(extra)}, which is not allowed."
        )


def _describe(node: exp.Expr) -> str:
    return {
        "parameter": "A variable (@name)",
        "sessionparameter": "A server variable (@@name)",
        "lateral": "LATERAL",
        "values": "VALUES",
        "dot": "A schema-qualified call or field access",
        "propertyeq": "Assignment (:=)",
        "tablesample": "TABLESAMPLE",
    }.get(node.key, f"The construct {node.key.upper()}")


def _short(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text.splitlines()[0][:200] if text else "syntax error"
