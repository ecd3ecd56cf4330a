"""Celery tasks of billing: the periodic sweep and the processing of webhook events."""

from typing import Any

from celery import shared_task
from django.conf import settings

from billing.services.webhooks import payment_event_failed, payment_event_process
from core.tenancy import no_tenant_context, platform_scope


@shared_task(name="billing.maintenance", ignore_result=True)
def billing_maintenance_task() -> dict[str, int]:
    """Periodic: close ended periods, end past-due grace, retry stuck webhook events."""
    from billing.services.periods import billing_periods_close, subscriptions_past_due_sweep
    from billing.services.webhooks_retry import payment_events_retry

    with no_tenant_context(), platform_scope():
        return {
            "invoices": billing_periods_close(),
            "grace_ended": subscriptions_past_due_sweep(),
            "events_requeued": payment_events_retry(),
        }


@shared_task(
    name="billing.payment_event_process",
    bind=True,
    ignore_result=True,
    max_retries=settings.BILLING_WEBHOOK_MAX_RETRIES,
    acks_late=True,
)
def payment_event_process_task(self: Any, event_pk: int) -> str:
    """Apply one stored webhook event; a failure rolls its effect back and is retried with
    a growing delay (the inbox row keeps the error)."""
    with no_tenant_context(), platform_scope():
        try:
            return payment_event_process(event_pk=event_pk)
        except Exception as exc:
            final = self.request.retries >= self.max_retries
            payment_event_failed(event_pk=event_pk, error=repr(exc), final=final)
            if final or self.request.is_eager:
                # Eager (embedded mode): the periodic sweep retries it instead of blocking.
                return "failed"
            raise self.retry(exc=exc, countdown=min(600, 2 ** (self.request.retries + 2))) from exc
