# AuditEvent and FeatureFlag left the accounts app for ops (issue 14): removed from this
# app's state only. Their tables stay (ops.0001 took them over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_api_key"),
        ("ops", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="FeatureFlag"),
            ],
        ),
    ]
