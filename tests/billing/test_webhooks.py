"""Stripe webhooks: verified signatures, replays refused, each event stored and applied once,
events out of order never move a subscription backwards, failures retried."""

import time

import pytest

from billing.models import PaymentEvent, PaymentEventOutcome
from billing.services.webhooks import payment_event_process
from ops.models import AuditEvent
from tests.accounts.helpers import assert_envelope
from tests.billing.conftest import WEBHOOK_SECRET, subscription_of
from tests.fakes.stripe_server import signed_event

HOOK = "/api/v1/billing/webhooks/stripe"


def _subscription_obj(organization, *, price="price_pro", status="active"):
    now = int(time.time())
    return {
        "id": "sub_hook1",
        "object": "subscription",
        "customer": "cus_hook1",
        "status": status,
        "cancel_at_period_end": False,
        "current_period_start": now,
        "current_period_end": now + 30 * 86400,
        "metadata": {"organization_id": str(organization.pk)},
        "items": {"data": [{"id": "si_1", "price": {"id": price}}]},
    }


def _event(obj, *, event_id="evt_1", event_type="customer.subscription.updated", created=None):
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def _post(api_client, body, signature):
    return api_client.post(
        HOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


@pytest.mark.django_db(transaction=True)
def test_a_signed_event_is_stored_and_applied(stripe_webhooks, plans, api_client, organization):
    body, signature = signed_event(_event(_subscription_obj(organization)), WEBHOOK_SECRET)
    response = _post(api_client, body, signature)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    event = PaymentEvent.objects.get(event_id="evt_1")
    assert event.outcome == PaymentEventOutcome.PROCESSED and event.processed_at is not None
    assert event.payload["data"]["object"]["id"] == "sub_hook1"
    assert subscription_of(organization).plan.code == "pro"


@pytest.mark.django_db(transaction=True)
def test_a_bad_signature_is_400_and_nothing_is_stored(
    stripe_webhooks, plans, api_client, organization
):
    body, _ = signed_event(_event(_subscription_obj(organization)), WEBHOOK_SECRET)
    _, wrong = signed_event(_event(_subscription_obj(organization)), "whsec_other")
    assert_envelope(_post(api_client, body, wrong), 400, "WEBHOOK_SIGNATURE_INVALID")
    assert_envelope(_post(api_client, body, ""), 400, "WEBHOOK_SIGNATURE_INVALID")
    # A body changed after signing.
    _, signature = signed_event(_event(_subscription_obj(organization)), WEBHOOK_SECRET)
    tampered = body.replace(b"price_pro", b"price_starter")
    assert_envelope(_post(api_client, tampered, signature), 400, "WEBHOOK_SIGNATURE_INVALID")
    assert PaymentEvent.objects.count() == 0
    assert subscription_of(organization).plan.code == "free"


@pytest.mark.django_db(transaction=True)
def test_a_replayed_old_signature_is_refused(
    stripe_webhooks, settings, plans, api_client, organization
):
    settings.STRIPE_WEBHOOK_TOLERANCE = 300
    old = int(time.time()) - 301
    body, signature = signed_event(
        _event(_subscription_obj(organization)), WEBHOOK_SECRET, timestamp=old
    )
    assert_envelope(_post(api_client, body, signature), 400, "WEBHOOK_SIGNATURE_INVALID")
    assert PaymentEvent.objects.count() == 0
    # Within the tolerance it is accepted.
    body, signature = signed_event(
        _event(_subscription_obj(organization)), WEBHOOK_SECRET, timestamp=old + 60
    )
    assert _post(api_client, body, signature).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_same_event_twice_is_processed_once(stripe_webhooks, plans, api_client, organization):
    body, signature = signed_event(_event(_subscription_obj(organization)), WEBHOOK_SECRET)
    assert _post(api_client, body, signature).json()["duplicate"] is False
    second = _post(api_client, body, signature)
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert PaymentEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1
    # Processing the stored event again (a retried task) changes nothing either.
    event = PaymentEvent.objects.get()
    assert payment_event_process(event_pk=event.pk) == PaymentEventOutcome.PROCESSED
    assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1
    event.refresh_from_db()
    assert event.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_an_older_event_arriving_late_does_not_move_the_subscription_back(
    stripe_webhooks, plans, api_client, organization
):
    now = int(time.time())
    newer = _event(
        _subscription_obj(organization, price="price_pro"), event_id="evt_new", created=now
    )
    older = _event(
        _subscription_obj(organization, price="price_starter"),
        event_id="evt_old",
        created=now - 60,
    )
    _post(api_client, *signed_event(newer, WEBHOOK_SECRET))
    _post(api_client, *signed_event(older, WEBHOOK_SECRET))
    assert subscription_of(organization).plan.code == "pro"
    assert PaymentEvent.objects.get(event_id="evt_old").outcome == PaymentEventOutcome.STALE
    # A stale "deleted" does not cancel the newer state either.
    deleted = _event(
        _subscription_obj(organization, status="canceled"),
        event_id="evt_old_delete",
        event_type="customer.subscription.deleted",
        created=now - 30,
    )
    _post(api_client, *signed_event(deleted, WEBHOOK_SECRET))
    assert subscription_of(organization).plan.code == "pro"
    organization.refresh_from_db()
    assert organization.max_members == 10


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_is_kept_and_retried(
    stripe_webhooks, plans, api_client, organization, monkeypatch
):
    from billing.services import stripe_events
    from billing.services.webhooks_retry import payment_events_retry

    calls = {"n": 0}
    real = stripe_events.stripe_event_apply

    def flaky(*, event):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(event=event)

    monkeypatch.setattr(stripe_events, "stripe_event_apply", flaky)
    body, signature = signed_event(_event(_subscription_obj(organization)), WEBHOOK_SECRET)
    assert _post(api_client, body, signature).status_code == 200  # acknowledged: it is stored
    event = PaymentEvent.objects.get()
    assert event.processed_at is None and "database hiccup" in event.error
    assert event.attempts == 1
    assert subscription_of(organization).plan.code == "free"  # the effect was rolled back

    from django.utils import timezone

    later = timezone.now() + timezone.timedelta(hours=1)
    assert payment_events_retry(now=later) == 1
    event.refresh_from_db()
    assert event.outcome == PaymentEventOutcome.PROCESSED
    assert subscription_of(organization).plan.code == "pro"
