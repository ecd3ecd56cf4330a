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
    Generation = apps.get_model("ai", "Generation")
    Generation.objects.filter(organization__isnull=True).update(
        organization_id=_default_organization(apps, "user_id")
    )


class Migration(migrations.Migration):
    dependencies = [("ai", "0007_alter_generation_options_alter_generation_managers_and_more"), ("tenants", "0002_personal_organizations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
