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
    ChatSession = apps.get_model("chat", "ChatSession")
    ChatMessage = apps.get_model("chat", "ChatMessage")
    ChatSession.objects.filter(organization__isnull=True).update(
        organization_id=_default_organization(apps, "user_id")
    )
    ChatMessage.objects.filter(organization__isnull=True).update(
        organization_id=Subquery(
            ChatSession.objects.filter(pk=OuterRef("session_id")).values("organization_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_alter_chatmessage_options_alter_chatsession_options_and_more"), ("tenants", "0002_personal_organizations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
