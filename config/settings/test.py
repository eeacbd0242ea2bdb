"""Test settings: real PostgreSQL (embedded unless DATABASE_URL is set) and real Redis."""

import os
from pathlib import Path

from config.localenv import load_local_env

load_local_env(Path(__file__).resolve().parent.parent.parent)

from .base import *  # noqa: E402,F403
from .base import (  # noqa: E402
    LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_WINDOW_SECONDS,
    STATIC_ROOT,
    VAR_DIR,
    database_settings,
    env,
    redis_dependent_settings,
)

DEBUG = False
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
# Two fixed Fernet keys (newest first) so rotation can be tested; never used outside tests.
FIELD_ENCRYPTION_KEYS = [
    "x9Lq3DS1QdJ1Cz5vFEG3Y7F9oV0l2nYcI9cS2H8Kp0w=",
    "bFh0uP6m3q2dA1k4Zc8s9Vt7xYw5rE0oL2jN6gH4fQs=",
]
DATABASES = {"default": database_settings(env.str("TEST_DATABASE_URL", default=""))}
# No persistent connections: database threads must not keep the test database open at teardown.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Several test runs may share one PostgreSQL server: TEST_DB_SUFFIX keeps their databases apart.
if env.str("TEST_DB_SUFFIX", default=""):
    DATABASES["default"]["TEST"] = {"NAME": f"test_aichat_{env.str('TEST_DB_SUFFIX')}"}
# A server process started by the browser tests must use the test database pytest created.
if env.str("TEST_SERVER_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("TEST_SERVER_DATABASE_NAME")
    # Persistent connections as in production, for a test of how a server process keeps them.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("TEST_SERVER_CONN_MAX_AGE", default=0)
# One Redis database for tests, and a per-run prefix so parallel runs never share keys.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/14")
# A server process started by the tests passes its parent's prefix on, so both see one cache.
TEST_RUN_PREFIX = env.str("TEST_RUN_PREFIX", default=f"aichat-test-{os.getpid()}")
CACHE_KEY_PREFIX = TEST_RUN_PREFIX  # rate-limit counters and answer streams too
_redis = redis_dependent_settings(REDIS_URL, VAR_DIR, TEST_RUN_PREFIX)
CACHES = _redis["CACHES"]
CHANNEL_LAYERS = _redis["CHANNEL_LAYERS"]
CELERY_BROKER_URL = _redis["CELERY_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = _redis["CELERY_BROKER_TRANSPORT_OPTIONS"]
CELERY_RESULT_BACKEND = REDIS_URL
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
MEDIA_ROOT = VAR_DIR / "test-media"
# Every test client signs in from 127.0.0.1, so per-IP sign-in limits would tie unrelated tests
# together; the per-account limit that stops guessing a person's password stays as in production.
ACCOUNT_RATE_LIMITS = {
    "login": "",
    "login_failed": f"{LOGIN_FAILURES_PER_ACCOUNT}/{LOGIN_FAILURES_WINDOW_SECONDS}s/key",
}
