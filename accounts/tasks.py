"""Celery tasks of the accounts app: delivering account emails, with retries."""

import smtplib

import structlog
from celery import shared_task

logger = structlog.get_logger(__name__)

# Transient failures worth another try: SMTP errors, refused connections, timeouts.
RETRYABLE = (smtplib.SMTPException, OSError)


def email_deliver_now(*, to: str, subject: str, text: str, html: str) -> None:
    """Send one rendered message through the configured email backend (raises on failure)."""
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)


@shared_task(
    bind=True,
    autoretry_for=RETRYABLE,
    retry_backoff=30,
    # Below the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT): a countdown longer
    # than it makes Redis hand the waiting message to a second worker (a duplicate mail).
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
)
def email_deliver(self, *, to: str, subject: str, text: str, html: str, kind: str) -> None:
    """Worker side of ``accounts.emails.email_send``: Celery retries with exponential backoff,
    and every failed attempt is logged, so a message is never dropped silently."""
    try:
        email_deliver_now(to=to, subject=subject, text=text, html=html)
    except RETRYABLE as exc:
        logger.error(
            "email_send_failed",
            kind=kind,
            attempt=self.request.retries + 1,
            error=type(exc).__name__,
        )
        raise
    logger.info("email_sent", kind=kind)


@shared_task(name="accounts.user_deletion", acks_late=True, ignore_result=True)
def user_deletion_task(*, job_id: int) -> None:
    """Run one user-deletion job (``accounts.deletion``); a job another worker holds is left."""
    from accounts.deletion import user_deletion_run

    user_deletion_run(job_id=job_id)


@shared_task(name="accounts.user_deletions_resume", ignore_result=True)
def user_deletions_resume_task() -> int:
    """Periodic: resume deletion jobs whose worker died."""
    from accounts.deletion import user_deletions_resume

    return user_deletions_resume()
