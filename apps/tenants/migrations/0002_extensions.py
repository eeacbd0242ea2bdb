"""PostgreSQL extensions live in the `extensions` schema, on every tenant's search path.

pgvector is required. pg_search (BM25) is created when the server offers it; where it is
absent, keyword search falls back to PostgreSQL full-text search. Creating extensions needs
a role allowed to do so (the embedded server's superuser; in production, see docs/deployment.md).
"""

from django.db import migrations

CREATE = """
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS vector SCHEMA extensions;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_search') THEN
        CREATE EXTENSION IF NOT EXISTS pg_search;
    END IF;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql=migrations.RunSQL.noop)]
