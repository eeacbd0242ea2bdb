"""Connections to a tenant's internal databases, what the assistant may read, named queries."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.core.fields import EncryptedTextField

CONNECTION_NAME_RE = r"^[a-z][a-z0-9_]{0,39}$"
TOOL_NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$"


class DatabaseEngine(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL / MariaDB"


class SslMode(models.TextChoices):
    DISABLE = "disable", "Disable (no TLS)"
    PREFER = "prefer", "Prefer TLS"
    REQUIRE = "require", "Require TLS (no certificate check)"
    VERIFY_CA = "verify-ca", "Require TLS, verify the certificate authority"
    VERIFY_FULL = "verify-full", "Require TLS, verify the authority and the host name"


class Connection(models.Model):
    """One database of the tenant, reached with a least-privilege, read-only user."""

    name = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(CONNECTION_NAME_RE, "Lowercase letters, digits and _.")],
        help_text="Lowercase letters, digits and _; the SQL tool is called sql_<name>.",
    )
    engine = models.CharField(max_length=20, choices=DatabaseEngine.choices)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    database = models.CharField(max_length=128)
    username = models.CharField(max_length=128)
    password = EncryptedTextField(blank=True)
    sslmode = models.CharField(max_length=16, choices=SslMode.choices, default=SslMode.PREFER)
    ssl_root_cert = models.TextField(
        blank=True, help_text="PEM certificate of the authority (verify-ca, verify-full)."
    )
    connect_timeout_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    statement_timeout_ms = models.PositiveIntegerField(
        validators=[MinValueValidator(100), MaxValueValidator(60_000)]
    )
    row_limit = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    max_result_bytes = models.PositiveIntegerField(
        validators=[MinValueValidator(1024), MaxValueValidator(10 * 1024 * 1024)]
    )
    # The free-form SQL tool is off until an admin turns it on, per assistant.
    sql_tool_enabled = models.BooleanField(default=False)
    sql_tool_assistants = models.ManyToManyField(
        "llm.Assistant", blank=True, related_name="sql_connections"
    )
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def sql_tool_name(self) -> str:
        return f"sql_{self.name}"


class ApprovedTable(models.Model):
    """A table the assistant may read: which columns, which are sensitive, which rows."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="tables")
    schema_name = models.CharField(max_length=128)
    table_name = models.CharField(max_length=128)
    # Readable columns, as the database spells them, in the order they are shown.
    columns = ArrayField(models.CharField(max_length=128), default=list)
    # Never returned. Named queries may still filter on them; free-form SQL may not name them.
    sensitive_columns = ArrayField(models.CharField(max_length=128), default=list, blank=True)
    # Column -> type, from introspection, to describe the table to the model.
    column_types = models.JSONField(default=dict, blank=True)
    # A condition over this table's columns; may use :visitor_id (the verified visitor).
    row_filter = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["schema_name", "table_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "schema_name", "table_name"], name="approved_table_unique"
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.schema_name}.{self.table_name}"


class ParameterType(models.TextChoices):
    INTEGER = "integer", "Integer"
    NUMBER = "number", "Number"
    STRING = "string", "Text"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date (YYYY-MM-DD)"


class NamedQuery(models.Model):
    """A SELECT written by an admin, offered to the model as a tool with typed parameters."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(TOOL_NAME_RE, "Letters, digits and _, starting with a letter.")],
    )
    description = models.TextField(help_text="Tells the model when to use this query.")
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="named_queries"
    )
    sql = models.TextField(help_text="One SELECT; parameters as :name, the visitor as :visitor_id.")
    # [{"name": "order_id", "type": "integer", "description": "...", "required": true}]
    parameters = models.JSONField(default=list, blank=True)
    summary_template = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shown to the visitor, e.g. 'Looked up order {order_id}'.",
    )
    max_rows = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    is_enabled = models.BooleanField(default=True)
    assistants = models.ManyToManyField("llm.Assistant", blank=True, related_name="named_queries")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "named queries"

    def __str__(self) -> str:
        return self.name
