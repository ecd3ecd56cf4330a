"""The webhook inbox: verify, store once by the provider's event id, process once in a task.

Receiving only verifies the signature and stores the event (a duplicate delivery finds the
stored row and is acknowledged without any effect). Processing locks the row, applies the
effect and marks the row processed in ONE transaction, so an event's effect happens exactly
once however often it is delivered or the task is retried.
"""

from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import PaymentEvent, PaymentEventOutcome
from billing.providers import provider_get

logger = structlog.get_logger(__name__)


def payment_event_receive(
    *, provider: str, payload: bytes, signature: str
) -> tuple[PaymentEvent, bool]:
    """Verify and store an event; returns ``(event, created)``. Raises
    ``WebhookSignatureError`` (400) before anything is stored."""
    event = provider_get(provider).webhook_event(payload=payload, signature=signature)
    try:
        with transaction.atomic():
            stored, created = PaymentEvent.objects.get_or_create(
                provider=provider,
                event_id=event.event_id,
                defaults={
                    "event_type": event.event_type,
                    "event_created": event.created,
                    "payload": event.payload,
                },
            )
            if created:
                stored_pk = stored.pk
                transaction.on_commit(lambda: payment_event_dispatch(event_pk=stored_pk))
    except IntegrityError:
        # The same event delivered twice at the same moment: the other request stored it.
        return PaymentEvent.objects.get(provider=provider, event_id=event.event_id), False
    if not created:
        logger.info("payment_event_duplicate", provider=provider, event_id=event.event_id)
    return stored, created


def payment_event_dispatch(*, event_pk: int) -> None:
    from billing.tasks import payment_event_process_task

    payment_event_process_task.delay(event_pk)


def payment_event_process(*, event_pk: int) -> str:
    """Apply one stored event (once); returns its outcome."""
    from billing.services.stripe_events import stripe_event_apply

    handlers: dict[str, Any] = {"stripe": stripe_event_apply}
    with transaction.atomic():
        event = PaymentEvent.objects.select_for_update(of=("self",)).get(pk=event_pk)
        if event.processed_at is not None:
            return str(event.outcome)
        event.attempts += 1
        handler = handlers.get(event.provider)
        outcome = handler(event=event) if handler is not None else str(PaymentEventOutcome.IGNORED)
        event.outcome = outcome
        event.processed_at = timezone.now()
        event.error = ""
        event.save(update_fields=["attempts", "outcome", "processed_at", "error"])
    return outcome


def payment_event_failed(*, event_pk: int, error: str, final: bool) -> None:
    """Record a failed attempt (its effect was rolled back); the last one is marked failed."""
    PaymentEvent.objects.filter(pk=event_pk, processed_at__isnull=True).update(
        attempts=F("attempts") + 1,
        error=error[:2000],
        outcome=PaymentEventOutcome.FAILED if final else PaymentEventOutcome.PENDING,
    )
