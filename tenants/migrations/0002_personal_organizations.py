"""Every existing user gets a personal organization (owner, their default one)."""

import secrets
import uuid

from django.db import migrations
from django.utils import timezone
from django.utils.text import slugify


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Organization = apps.get_model("tenants", "Organization")
    Membership = apps.get_model("tenants", "Membership")
    taken = set(Organization.objects.values_list("slug", flat=True))
    with_default = set(
        Membership.objects.filter(is_default=True).values_list("user_id", flat=True)
    )
    for user in User.objects.exclude(pk__in=with_default).iterator():
        stem = (slugify(user.email.split("@", 1)[0]) or "org")[:55].strip("-") or "org"
        slug = stem
        while slug in taken:
            slug = f"{stem}-{secrets.token_hex(4)}"
        taken.add(slug)
        label = (user.full_name or user.email.split("@", 1)[0]).strip()
        organization = Organization.objects.create(
            id=uuid.uuid4(),
            name=f"{label} (personal)"[:200],
            slug=slug,
            is_personal=True,
            created_at=timezone.now(),
        )
        Membership.objects.create(
            organization=organization, user=user, role="owner", is_default=True
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
