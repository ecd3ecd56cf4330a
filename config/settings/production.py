"""Production settings: secrets required, HTTPS hardening, JSON logs."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env

# Checked before base runs: production never falls back to the embedded mode's generated key.
try:
    _PRODUCTION_SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    _PRODUCTION_ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
except ImproperlyConfigured as exc:  # fail fast: never run production on a default secret
    raise ImproperlyConfigured(
        "Production settings need DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS"
    ) from exc
if len(_PRODUCTION_SECRET_KEY) < 50 or len(set(_PRODUCTION_SECRET_KEY)) < 5:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters")

from config.settings.base import *  # noqa: F403
from config.settings.base import LOG_LEVEL, QDRANT_URL
from config.settings.logging import build_logging

DEBUG = False
SECRET_KEY = _PRODUCTION_SECRET_KEY
ALLOWED_HOSTS = _PRODUCTION_ALLOWED_HOSTS

# The embedded vector store (Qdrant Edge, or qdrant-client's local mode) serves one process,
# and production layouts have several (WSGI and ASGI workers, Celery): they need a Qdrant
# server. A deployment that really runs a single process may say so explicitly.
QDRANT_EMBEDDED_SINGLE_PROCESS = env.bool("QDRANT_EMBEDDED_SINGLE_PROCESS", default=False)
if not QDRANT_URL and not QDRANT_EMBEDDED_SINGLE_PROCESS:
    raise ImproperlyConfigured(
        "Production settings need a Qdrant server: set QDRANT_URL (any layout with more than "
        "one process). For a deployment of exactly one process on the embedded vector store, "
        "set QDRANT_EMBEDDED_SINGLE_PROCESS=True."
    )

# Stripe billing without its secrets would fail at the first upgrade or webhook: fail at start.
if BILLING_PROVIDER == "stripe" and not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET):
    raise ImproperlyConfigured(
        "BILLING_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^health/detailed$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
# SMTP from EMAIL_URL (smtp://user:pass@host:587, smtp+tls://..., smtp+ssl://...) when set,
# otherwise from EMAIL_HOST / EMAIL_PORT / EMAIL_HOST_USER / EMAIL_HOST_PASSWORD / EMAIL_USE_TLS.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = build_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)
