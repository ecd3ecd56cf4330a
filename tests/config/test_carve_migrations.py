"""The carve of ``ai`` (issue 14) keeps every row: migrate a database of the schema before it,
with data in every moved table, to today's schema and read the same rows back.

``documents``, ``metering`` and ``ops`` took over ``Document``/``DocumentChunk``,
``UsageRecord``/``Quota*`` and ``AuditEvent``/``FeatureFlag``: their state moved with
``SeparateDatabaseAndState``, then their tables and indexes were renamed. Runs on SQLite and
PostgreSQL alike (the CI's second pass).
"""

import datetime as dt
import uuid

import pytest
from django.core.management.color import no_style
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState
from django.utils import timezone
from django_test_migrations import sql
from django_test_migrations.signals import mute_migrate_signals

BEFORE = [
    ("accounts", "0004_api_key"),
    ("ai", "0005_generation_history"),
    ("chat", "0001_initial"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
]
AFTER = [
    ("accounts", "0005_move_ops_models"),
    ("ai", "0006_move_documents_and_metering"),
    ("chat", "0002_session_documents_moved"),
    ("documents", "0002_rename_tables"),
    ("metering", "0002_rename_tables"),
    ("ops", "0002_rename_tables"),
]
OLD_TABLES = {
    "ai_document",
    "ai_documentchunk",
    "ai_usagerecord",
    "ai_quota",
    "ai_quotacounter",
    "ai_quotareservation",
    "accounts_auditevent",
    "accounts_featureflag",
}
NEW_TABLES = {
    "documents_document",
    "documents_documentchunk",
    "metering_usagerecord",
    "metering_quota",
    "metering_quotacounter",
    "metering_quotareservation",
    "ops_auditevent",
    "ops_featureflag",
}


def _seed(apps) -> dict:
    """Rows in every table that moves, through the models as they were before the carve."""
    User = apps.get_model("accounts", "User")
    Document = apps.get_model("ai", "Document")
    DocumentChunk = apps.get_model("ai", "DocumentChunk")
    UsageRecord = apps.get_model("ai", "UsageRecord")
    Quota = apps.get_model("ai", "Quota")
    QuotaCounter = apps.get_model("ai", "QuotaCounter")
    QuotaReservation = apps.get_model("ai", "QuotaReservation")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    FeatureFlag = apps.get_model("accounts", "FeatureFlag")
    ChatSession = apps.get_model("chat", "ChatSession")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")

    owner = User.objects.create(email="owner@example.com", username="owner", password="!")
    admin = User.objects.create(email="admin@example.com", username="admin", password="!")
    document = Document.objects.create(
        id=uuid.uuid4(),
        owner=owner,
        title="Manual",
        file=f"documents/{owner.pk}/manual.txt",
        file_type="text",
        size_bytes=12,
        sha256="a" * 64,
        status="ready",
        chunks=1,
        chunks_indexed=1,
    )
    DocumentChunk.objects.create(
        document=document,
        chunk_index=0,
        page=1,
        char_start=0,
        char_end=12,
        token_count=3,
        text="hello",
    )
    session = ChatSession.objects.create(user=owner, title="Grounded")
    session.documents.add(document)
    usage = UsageRecord.objects.create(
        user=owner,
        kind="embedding",
        provider="offline",
        model="m",
        total_tokens=3,
        document_id=document.pk,
    )
    Quota.objects.create(user=owner, daily_tokens=1000, updated_by=admin)
    today = timezone.now().date()
    QuotaCounter.objects.create(user=owner, period="day", period_start=today, used_tokens=3)
    QuotaReservation.objects.create(
        user=owner, tokens=50, day_start=today, month_start=today.replace(day=1)
    )
    event = AuditEvent.objects.create(
        actor=admin,
        actor_email=admin.email,
        action="quota_changed",
        target_id=str(owner.pk),
        details={"a": 1},
    )
    FeatureFlag.objects.create(name="registration_open", enabled=False, updated_by=admin)
    # A permission granted on a moved model: it must follow the model to its new app.
    content_type = ContentType.objects.create(app_label="ai", model="document")
    permission = Permission.objects.create(
        content_type=content_type, codename="view_document", name="Can view document"
    )
    owner.user_permissions.add(permission)
    return {
        "owner": owner.pk,
        "admin": admin.pk,
        "document": document.pk,
        "session": session.pk,
        "usage": usage.pk,
        "event": event.pk,
    }


def _schema_before_the_carve(migrator) -> ProjectState:
    """A clean database migrated forward to the last migrations before the carve, and no
    further (django-test-migrations' own truncated plan would include the carve's first
    migrations, which sort before ``chat.0001``)."""
    sql.drop_models_tables("default", no_style())
    sql.flush_django_migrations_table("default", no_style())
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    wanted = {node for target in BEFORE for node in graph.forwards_plan(target)}
    full_plan = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
    plan = [(m, back) for m, back in full_plan if (m.app_label, m.name) in wanted]
    with mute_migrate_signals():
        state = executor.migrate(BEFORE, plan=plan)
    state.clear_delayed_apps_cache()
    migrator._executor.loader.build_graph()
    return state


@pytest.mark.django_db(transaction=True)
def test_carve_migrations_keep_every_row(migrator):
    old_state = _schema_before_the_carve(migrator)
    ids = _seed(old_state.apps)
    assert set(connection.introspection.table_names()) >= OLD_TABLES

    new_state = migrator.apply_tested_migration(AFTER)
    apps = new_state.apps

    tables = set(connection.introspection.table_names())
    assert tables >= NEW_TABLES
    assert not (OLD_TABLES & tables)

    document = apps.get_model("documents", "Document").objects.get(pk=ids["document"])
    assert (document.owner_id, document.title, document.status) == (ids["owner"], "Manual", "ready")
    assert [c.text for c in document.chunk_rows.all()] == ["hello"]
    session = apps.get_model("chat", "ChatSession").objects.get(pk=ids["session"])
    assert [d.pk for d in session.documents.all()] == [ids["document"]]

    usage = apps.get_model("metering", "UsageRecord").objects.get(pk=ids["usage"])
    assert (usage.user_id, usage.total_tokens, usage.document_id) == (
        ids["owner"],
        3,
        ids["document"],
    )
    quota = apps.get_model("metering", "Quota").objects.get(user_id=ids["owner"])
    assert (quota.daily_tokens, quota.updated_by_id) == (1000, ids["admin"])
    assert (
        apps.get_model("metering", "QuotaCounter").objects.get(user_id=ids["owner"]).used_tokens
        == 3
    )
    assert (
        apps.get_model("metering", "QuotaReservation").objects.get(user_id=ids["owner"]).tokens
        == 50
    )

    event = apps.get_model("ops", "AuditEvent").objects.get(pk=ids["event"])
    assert (event.actor_id, event.action, event.details) == (
        ids["admin"],
        "quota_changed",
        {"a": 1},
    )
    flag = apps.get_model("ops", "FeatureFlag").objects.get(name="registration_open")
    assert (flag.enabled, flag.updated_by_id) == (False, ids["admin"])

    # The permission now names documents.document and is still granted.
    ContentType = apps.get_model("contenttypes", "ContentType")
    assert not ContentType.objects.filter(app_label="ai", model="document").exists()
    owner = apps.get_model("accounts", "User").objects.get(pk=ids["owner"])
    assert {(p.content_type.app_label, p.codename) for p in owner.user_permissions.all()} == {
        ("documents", "view_document")
    }

    # New rows get fresh keys after the renames (sequences/identity followed the tables).
    AuditEvent = apps.get_model("ops", "AuditEvent")
    later = AuditEvent.objects.create(
        action="after", created_at=timezone.now() + dt.timedelta(seconds=1)
    )
    assert later.pk > ids["event"]
    UsageRecord = apps.get_model("metering", "UsageRecord")
    assert (
        UsageRecord.objects.create(user_id=ids["owner"], kind="chat", provider="p", model="m").pk
        > ids["usage"]
    )


@pytest.mark.django_db(transaction=True)
def test_carve_migrations_reverse_to_the_old_schema(migrator):
    # A rollback of the deploy: the tables go back to their old names with their rows.
    migrator.apply_initial_migration(AFTER)
    User = migrator._executor.loader.project_state(AFTER).apps.get_model("accounts", "User")
    user = User.objects.create(email="back@example.com", username="back", password="!")
    apps = migrator._executor.loader.project_state(AFTER).apps
    apps.get_model("ops", "FeatureFlag").objects.create(name="x", updated_by_id=user.pk)
    old_state = migrator.apply_tested_migration(
        [*BEFORE, ("documents", None), ("metering", None), ("ops", None)]
    )
    assert set(connection.introspection.table_names()) >= OLD_TABLES
    assert (
        old_state.apps.get_model("accounts", "FeatureFlag").objects.get(name="x").updated_by_id
        == user.pk
    )
