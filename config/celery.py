"""Celery application.

Embedded mode runs tasks eagerly in-process (no broker needed); with ``REDIS_URL`` set
tasks go to Redis and run on workers started by ``make worker``. django-structlog carries the
request id of the request that queued a task into the task's log lines.
"""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("aichat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs: object) -> None:
    """Keep the project's structured (and redacting) log configuration in workers."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def _add_structlog_step() -> None:
    from django_structlog.celery.steps import DjangoStructLogInitStep

    app.steps["worker"].add(DjangoStructLogInitStep)


_add_structlog_step()
