"""Embedded mode: what ``make run`` uses (``make dev`` adds ``DJANGO_DEBUG=True``).

Safe to expose as it is: ``DEBUG`` stays off unless ``DJANGO_DEBUG`` turns it on, and the
signing key is generated into ``DATA_DIR`` (see ``base``).
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
