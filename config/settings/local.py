"""Development settings: `make run` and any `manage.py` command on a developer machine."""

from pathlib import Path

from config.localenv import load_local_env

load_local_env(Path(__file__).resolve().parent.parent.parent)

from .base import *  # noqa: E402,F403
from .base import (  # noqa: E402
    CACHE_KEY_PREFIX,
    DATABASE_URL,
    REDIS_URL,
    STATIC_ROOT,
    VAR_DIR,
    database_settings,
    env,
    redis_dependent_settings,
)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATABASES = {"default": database_settings(DATABASE_URL)}
_redis = redis_dependent_settings(REDIS_URL, VAR_DIR, CACHE_KEY_PREFIX)
CACHES = _redis["CACHES"]
CHANNEL_LAYERS = _redis["CHANNEL_LAYERS"]
CELERY_BROKER_URL = _redis["CELERY_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = _redis["CELERY_BROKER_TRANSPORT_OPTIONS"]
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=["http://localhost:8000", "http://*.localhost:8000"]
)
# Sign-in emails (password reset, verification) are printed unless EMAIL_URL names a server.
if not env.str("EMAIL_URL", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
