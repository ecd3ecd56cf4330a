# Document moved from the ai app to documents (issue 14): the many-to-many now names
# documents.Document. State only: the join table and its rows are unchanged.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
        ("documents", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chatsession",
                    name="documents",
                    field=models.ManyToManyField(
                        blank=True, related_name="chat_sessions", to="documents.document"
                    ),
                ),
            ],
        ),
    ]
