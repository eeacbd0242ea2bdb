"""A Celery worker process for test_worker_killed.py: consumes one test queue with the broker
prefix and visibility timeout the test chooses (env KB_TEST_BROKER_PREFIX, KB_TEST_QUEUE)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from config.celery import app  # noqa: E402

app.conf.broker_transport_options = {
    "global_keyprefix": os.environ["KB_TEST_BROKER_PREFIX"],
    "visibility_timeout": 3,  # an unacknowledged message goes back to the queue after 3 s
}
app.worker_main(
    [
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={os.environ['KB_TEST_QUEUE']}",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=WARNING",
    ]
)
