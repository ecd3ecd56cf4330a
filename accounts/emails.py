"""Account emails: rendered from ``templates/email/<kind>.{txt,html}`` and sent by a task.

Rendering happens in the request (it needs only the context); delivery happens in the
``accounts.tasks.email_deliver`` Celery task, retried with backoff on workers. In embedded mode
(eager tasks) one attempt is made in-process and a failure is logged, never turned into a 500:
the caller's answer must not depend on the mail server (and must not reveal whether an address
exists).
"""

from typing import Any
from urllib.parse import urlencode, urljoin

import structlog
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.template.loader import render_to_string

from accounts.tasks import RETRYABLE, email_deliver, email_deliver_now
from config.middleware import current_request

logger = structlog.get_logger(__name__)

KINDS = (
    "verify_email",
    "password_reset",
    "login_code",
    "password_changed",
    "organization_invitation",
)


# Only outside any request (a management command) with FRONTEND_URL unset.
FALLBACK_FRONTEND_URL = "http://localhost:8000/"


def frontend_base_url() -> str:
    """``FRONTEND_URL``, or else the address this request reached the server at (scheme and
    host, validated against ``ALLOWED_HOSTS``), so links work on any host and port."""
    if settings.FRONTEND_URL:
        return settings.FRONTEND_URL
    request = current_request.get()
    if request is not None:
        try:
            return request.build_absolute_uri("/")
        except DisallowedHost:
            pass
    return FALLBACK_FRONTEND_URL


def frontend_link(**params: str) -> str:
    """A link into the front end, e.g. ``/?reset=<token>``."""
    base = frontend_base_url()
    if not base.endswith("/"):
        base += "/"
    return urljoin(base, "?" + urlencode(params)) if params else base


def email_render(*, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """``(subject, text, html)`` for one kind of account email."""
    if kind not in KINDS:
        raise ValueError(f"Unknown email kind {kind!r}")
    context = {"project_name": settings.PROJECT_NAME, "frontend_url": frontend_link(), **context}
    subject = render_to_string(f"email/{kind}_subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"email/{kind}.txt", context)
    html = render_to_string(f"email/{kind}.html", context)
    return subject, text, html


def email_send(*, to: str, kind: str, context: dict[str, Any]) -> None:
    """Render and queue an account email; never raises because of delivery problems."""
    subject, text, html = email_render(kind=kind, context=context)
    payload = {"to": to, "subject": subject, "text": text, "html": html}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # In-process: one attempt; eager retries would block the request for minutes.
        try:
            email_deliver_now(**payload)
        except RETRYABLE as exc:
            logger.error("email_send_failed", kind=kind, attempt=1, error=type(exc).__name__)
            return
        logger.info("email_sent", kind=kind)
        return
    try:
        email_deliver.delay(**payload, kind=kind)
    except Exception as exc:  # noqa: BLE001 - broker down: log loudly, keep the request alive
        logger.error("email_queue_failed", kind=kind, error=type(exc).__name__)
