# The documents and metering models left the ai app (issue 14): removed from this app's
# state only. Their tables stay (documents.0001 / metering.0001 took them over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ai", "0005_generation_history"),
        ("documents", "0001_initial"),
        ("metering", "0001_initial"),
        ("chat", "0002_session_documents_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="DocumentChunk"),
                migrations.DeleteModel(name="Document"),
                migrations.DeleteModel(name="UsageRecord"),
                migrations.DeleteModel(name="Quota"),
                migrations.DeleteModel(name="QuotaCounter"),
                migrations.DeleteModel(name="QuotaReservation"),
            ],
        ),
    ]
