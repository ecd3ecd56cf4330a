"""Plan versions (a price change is a new version; subscribers keep theirs until renewal), the
console's billing pages and its "mark paid" action, and the periodic task."""

import datetime as dt

import pytest

from billing.models import Invoice, InvoiceStatus, PaymentEvent, Plan
from billing.services.periods import billing_periods_close
from billing.services.plans import plan_save
from billing.services.subscriptions import subscription_change_plan
from core.actor import Actor
from ops.models import AuditEvent
from tests.billing.conftest import subscription_of


def _owner(owner, organization):
    return Actor(user=owner, organization=organization, membership_role="owner")


@pytest.mark.django_db
def test_a_price_change_is_a_new_version_applied_at_renewal(plans, owner, organization):
    subscription_change_plan(actor=_owner(owner, organization), plan_code="pro")
    old = plans["pro"]
    old.price_minor = 2500
    new = plan_save(actor=Actor(system=True), plan=old, changed=["price_minor"])
    assert new.pk != old.pk and new.version == 2 and new.is_current
    old_row = Plan.objects.get(pk=old.pk)
    assert old_row.price_minor == 2000 and old_row.is_current is False
    # The subscriber keeps version 1 until the period ends...
    subscription = subscription_of(organization)
    assert subscription.plan_id == old.pk
    # ...and renews on version 2 at its price.
    billing_periods_close(now=subscription.current_period_end + dt.timedelta(seconds=1))
    subscription = subscription_of(organization)
    assert subscription.plan_id == new.pk
    renewal = Invoice.all_organizations.filter(organization=organization).order_by("-created_at")[0]
    assert renewal.total_minor == 2500
    # A plan nobody uses is edited in place.
    starter = plans["starter"]
    starter.price_minor = 950
    assert plan_save(actor=Actor(system=True), plan=starter, changed=["price_minor"]).pk == (
        starter.pk
    )


@pytest.mark.django_db
def test_plan_feature_flags_must_be_flags_the_code_reads(plans):
    from rest_framework.exceptions import ValidationError

    plan = plans["starter"]
    plan.feature_flags = {"no_such_flag": True}
    with pytest.raises(ValidationError):
        plan_save(actor=Actor(system=True), plan=plan, changed=["feature_flags"])


@pytest.mark.django_db
def test_console_pages_and_mark_paid(plans, owner, organization, admin_user, client):
    subscription_change_plan(actor=_owner(owner, organization), plan_code="pro")
    invoice = Invoice.all_organizations.get(organization=organization)
    client.force_login(admin_user)
    from django_otp import DEVICE_ID_SESSION_KEY  # noqa: F401 - the console requires a device

    for url in (
        "/admin/billing/plan/",
        "/admin/billing/subscription/",
        "/admin/billing/invoice/",
        "/admin/billing/paymentevent/",
        f"/admin/billing/invoice/{invoice.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)


@pytest.mark.django_db
def test_mark_paid_action_goes_through_the_service(plans, owner, organization, admin_user, rf):
    from django.contrib.admin.sites import site
    from django.contrib.messages.storage.fallback import FallbackStorage

    from billing.admin import InvoiceAdmin

    subscription_change_plan(actor=_owner(owner, organization), plan_code="pro")
    invoice = Invoice.all_organizations.get(organization=organization)
    request = rf.post("/admin/billing/invoice/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    InvoiceAdmin(Invoice, site).mark_paid(request, Invoice.all_organizations.filter(pk=invoice.pk))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert AuditEvent.objects.filter(action="billing.invoice_paid", actor=admin_user).exists()
    # Payment events are read-only in the console.
    from billing.admin import PaymentEventAdmin

    page = PaymentEventAdmin(PaymentEvent, site)
    assert not page.has_add_permission(request)
    assert not page.has_change_permission(request)
    assert not page.has_delete_permission(request)


@pytest.mark.django_db
def test_the_periodic_task_closes_periods(plans, owner, organization, time_machine):
    from billing.tasks import billing_maintenance_task

    subscription_change_plan(actor=_owner(owner, organization), plan_code="pro")
    end = subscription_of(organization).current_period_end
    time_machine.move_to(end + dt.timedelta(minutes=1), tick=False)
    result = billing_maintenance_task.apply().get()
    assert result["invoices"] == 1
    assert subscription_of(organization).current_period_start == end
