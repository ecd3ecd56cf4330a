"""Celery application.

Embedded mode runs tasks eagerly in-process (no broker needed); with ``REDIS_URL`` set
tasks go to Redis and run on workers started by ``make worker``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("aichat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
