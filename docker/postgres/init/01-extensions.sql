-- Runs once, as the superuser, in POSTGRES_DB when the data volume is first initialised
-- (the official image's /docker-entrypoint-initdb.d). The app keeps its extensions in their own
-- schema, on every tenant's search path (PG_EXTRA_SEARCH_PATHS); its first migrate creates any
-- that are still missing, pg_search included where the server has it.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS vector SCHEMA extensions;
