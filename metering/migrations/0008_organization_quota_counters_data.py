"""What users used and hold today lands in their default (personal) organization: its member
and total counters start from the users' own counters, and active reservations name it, so
settling them updates the same rows."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def forwards(apps, schema_editor):
    Membership = apps.get_model("tenants", "Membership")
    QuotaCounter = apps.get_model("metering", "QuotaCounter")
    QuotaReservation = apps.get_model("metering", "QuotaReservation")
    Counter = apps.get_model("metering", "OrganizationQuotaCounter")
    default_org = Subquery(
        Membership.objects.filter(user_id=OuterRef("user_id"), is_default=True).values(
            "organization_id"
        )[:1]
    )
    QuotaReservation.objects.filter(organization__isnull=True).update(organization_id=default_org)
    defaults = dict(
        Membership.objects.filter(is_default=True).values_list("user_id", "organization_id")
    )
    totals: dict[tuple, list[int]] = {}
    members = []
    rows = QuotaCounter.objects.order_by("pk").values(
        "user_id", "period", "period_start", "used_tokens", "reserved_tokens"
    )
    for row in rows.iterator(chunk_size=2000):
        organization_id = defaults.get(row["user_id"])
        if organization_id is None:
            continue
        members.append(
            Counter(
                organization_id=organization_id,
                user_id=row["user_id"],
                period=row["period"],
                period_start=row["period_start"],
                used_tokens=row["used_tokens"],
                reserved_tokens=row["reserved_tokens"],
            )
        )
        total = totals.setdefault((organization_id, row["period"], row["period_start"]), [0, 0])
        total[0] += row["used_tokens"]
        total[1] += row["reserved_tokens"]
    Counter.objects.bulk_create(members, batch_size=2000)
    Counter.objects.bulk_create(
        [
            Counter(
                organization_id=organization_id,
                user_id=None,
                period=period,
                period_start=start,
                used_tokens=used,
                reserved_tokens=reserved,
            )
            for (organization_id, period, start), (used, reserved) in totals.items()
        ],
        batch_size=2000,
    )


def backwards(apps, schema_editor):
    apps.get_model("metering", "OrganizationQuotaCounter").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("metering", "0007_organization_quota_counters")]

    operations = [migrations.RunPython(forwards, backwards)]
