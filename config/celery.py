"""Celery application. Every task carries the tenant schema it was sent from.

tenant-schemas-celery adds the current schema to each message's headers and switches the
worker's connection to that schema before the task runs (and back after), retries included.
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = CeleryApp("aichat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
