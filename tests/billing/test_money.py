"""Money: integer minor units everywhere; proration and overage rounding (half up, per line)."""

import datetime as dt

import pytest
from django.db import models

from billing.models import Invoice, InvoiceLine, InvoiceReason, Plan
from billing.money import add_interval, format_minor, overage_amount, prorate, round_half_up
from billing.services.subscriptions import subscription_change_plan
from core.actor import Actor
from tests.billing.conftest import subscription_of

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
T30 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)  # a 30-day period


def test_every_amount_is_an_integer_field():
    for model in (Plan, Invoice, InvoiceLine):
        for field in model._meta.concrete_fields:
            if field.name.endswith("_minor"):
                assert isinstance(field, models.BigIntegerField | models.PositiveBigIntegerField), (
                    model,
                    field.name,
                )


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 3), (4, 2, 2), (7, 3, 2), (8, 3, 3), (-5, 2, -3), (-7, 3, -2), (0, 9, 0)],
)
def test_round_half_up(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


def test_proration_is_whole_seconds_rounded_half_up():
    # 20 of 30 days left of 2000: 1333.33 -> 1333; of 900: exactly 600.
    ten_days_in = T0 + dt.timedelta(days=10)
    assert prorate(price_minor=2000, period_start=T0, period_end=T30, at=ten_days_in) == 1333
    assert prorate(price_minor=900, period_start=T0, period_end=T30, at=ten_days_in) == 600
    # Exactly half a cent rounds up: 1 cent over 2 seconds, 1 second left.
    one_second_left = T0 + dt.timedelta(seconds=1)
    assert (
        prorate(
            price_minor=1,
            period_start=T0,
            period_end=T0 + dt.timedelta(seconds=2),
            at=one_second_left,
        )
        == 1
    )
    # Before the start: the whole price; after the end: nothing.
    assert (
        prorate(price_minor=2000, period_start=T0, period_end=T30, at=T0 - dt.timedelta(1)) == 2000
    )
    assert prorate(price_minor=2000, period_start=T0, period_end=T30, at=T30) == 0


def test_overage_rounds_half_up_per_1000_tokens():
    assert overage_amount(tokens=1500, price_per_1k_minor=50) == 75
    assert overage_amount(tokens=10, price_per_1k_minor=50) == 1  # 0.5 cent -> 1
    assert overage_amount(tokens=9, price_per_1k_minor=50) == 0  # 0.45 cent -> 0
    assert overage_amount(tokens=0, price_per_1k_minor=50) == 0


def test_months_clamp_to_the_last_day_and_amounts_format():
    assert add_interval(dt.datetime(2026, 1, 31, tzinfo=dt.UTC), "month") == dt.datetime(
        2026, 2, 28, tzinfo=dt.UTC
    )
    assert add_interval(dt.datetime(2028, 2, 29, tzinfo=dt.UTC), "year").date() == dt.date(
        2029, 2, 28
    )
    assert format_minor(123456, "eur") == "1234.56 EUR"
    assert format_minor(-5, "USD") == "-0.05 USD"
    assert format_minor(500, "JPY") == "500 JPY"


@pytest.mark.django_db
def test_an_upgrade_mid_period_credits_and_charges_rounded_lines(plans, owner, organization):
    actor = Actor(user=owner, organization=organization, membership_role="owner")
    subscription_change_plan(actor=actor, plan_code="starter")
    subscription = subscription_of(organization)
    # Pin the period to a known 30 days and upgrade 10 days in.
    type(subscription).all_organizations.filter(pk=subscription.pk).update(
        current_period_start=T0, current_period_end=T30
    )
    import time_machine

    with time_machine.travel(T0 + dt.timedelta(days=10), tick=False):
        subscription_change_plan(actor=actor, plan_code="pro")
    invoice = Invoice.all_organizations.get(
        organization=organization, reason=InvoiceReason.SUBSCRIPTION_UPDATE, total_minor__lt=900
    )
    amounts = sorted(line.amount_minor for line in invoice.lines.all())
    assert amounts == [-600, 1333]  # credit of starter's unused 20 days, pro for those days
    assert invoice.total_minor == 733
    assert isinstance(invoice.total_minor, int)
    subscription = subscription_of(organization)
    assert (subscription.current_period_start, subscription.current_period_end) == (T0, T30)
