"""Events stored but never processed (a worker died, a broker outage at enqueue, the retries
of an eager run) are handed to the task again by the periodic sweep."""

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing.models import PaymentEvent, PaymentEventOutcome
from billing.services.webhooks import payment_event_dispatch


def payment_events_retry(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    stuck = PaymentEvent.objects.filter(
        Q(outcome=PaymentEventOutcome.PENDING)
        | Q(outcome=PaymentEventOutcome.FAILED, attempts__lt=settings.BILLING_WEBHOOK_MAX_RETRIES),
        processed_at__isnull=True,
        received_at__lte=now - dt.timedelta(seconds=settings.BILLING_WEBHOOK_RETRY_AFTER),
    ).values_list("pk", flat=True)[:200]
    count = 0
    for event_pk in list(stuck):
        payment_event_dispatch(event_pk=event_pk)
        count += 1
    return count
