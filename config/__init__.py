"""Project configuration package; loads the Celery app so shared_task binds to it."""

# The one version: /health, /health/detailed and the OpenAPI info.version report it.
__version__ = "0.1.0"

from config.celery import app as celery_app

__all__ = ("__version__", "celery_app")
