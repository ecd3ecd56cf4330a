"""The free plan, and a subscription to it for every existing organization.

The free plan starts without limits (null caps and allowance), so an installation that
upgrades keeps behaving as before; operators set its entitlements in the console (a new
version). For the same reason no limit is written here: the free plan's are the defaults.
"""

import calendar
import datetime as dt

from django.db import migrations
from django.utils import timezone


def _next_month(start: dt.datetime) -> dt.datetime:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def forwards(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Subscription = apps.get_model("billing", "Subscription")
    Organization = apps.get_model("tenants", "Organization")
    plan, _ = Plan.objects.get_or_create(
        code="free",
        version=1,
        defaults={
            "name": "Free",
            "description": "The plan every organization starts on.",
            "price_minor": 0,
            "currency": "EUR",
            "interval": "month",
            "is_public": True,
            "is_current": True,
            "sort_order": 0,
        },
    )
    now = timezone.now()
    have = set(Subscription.objects.values_list("organization_id", flat=True))
    Subscription.objects.bulk_create(
        [
            Subscription(
                organization_id=organization_id,
                plan=plan,
                status="active",
                provider="manual",
                current_period_start=now,
                current_period_end=_next_month(now),
            )
            for organization_id in Organization.objects.values_list("id", flat=True)
            if organization_id not in have
        ],
        batch_size=500,
    )


def backwards(apps, schema_editor):
    apps.get_model("billing", "Subscription").objects.all().delete()
    apps.get_model("billing", "Plan").objects.filter(code="free", version=1).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("tenants", "0003_organization_max_documents_organization_max_members_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
