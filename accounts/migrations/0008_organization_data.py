"""Existing rows land in their owner's personal (default) organization."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def _default_organization(apps, user_field):
    Membership = apps.get_model("tenants", "Membership")
    return Subquery(
        Membership.objects.filter(user_id=OuterRef(user_field), is_default=True).values(
            "organization_id"
        )[:1]
    )


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    ApiKey.objects.filter(organization__isnull=True).update(
        organization_id=_default_organization(apps, "user_id")
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_apikey_organization"), ("tenants", "0002_personal_organizations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
