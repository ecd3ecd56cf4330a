"""Test settings: fast hashing, locmem email, eager tasks, an isolated DATA_DIR."""

import os
import tempfile

# Each test run gets its own data folder unless one is given, so runs never share files.
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="aichat-test-"))

from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"
SIMPLE_JWT = {**SIMPLE_JWT, "SIGNING_KEY": SECRET_KEY}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# locmem for the suite; the end-to-end server process writes mails to files it can read back.
EMAIL_BACKEND = os.environ.get(
    "TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
EMAIL_FILE_PATH = os.environ.get("TEST_EMAIL_FILE_PATH", "")
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
# Ingestion runs in the caller so tests see its result; tests of the background runner and
# the maintenance timer switch them on themselves.
INGEST_RUNNER = "inline"
# The same for user deletion; the end-to-end server runs it on its background thread.
USER_DELETION_RUNNER = os.environ.get("USER_DELETION_RUNNER", "inline")
ORGANIZATION_DELETION_RUNNER = os.environ.get("ORGANIZATION_DELETION_RUNNER", "inline")
MAINTENANCE_INTERVAL = 0
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Throttles stay on (tests assert them) but generous enough for ordinary tests.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "anon": "10000/min",
        "user": "10000/min",
    },
}
