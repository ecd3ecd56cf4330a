"""The organization migrations keep every row (issue 18): a database of the schema before
them, with users, chats, messages, documents, API keys, usage and generations, migrated to
today's schema, puts each user's rows in the user's new personal organization.

Runs on SQLite and PostgreSQL alike (the CI's second pass). The data migrations are
``RunPython.noop`` backwards: a rollback drops the organization columns and tables and
keeps every row (tested below), but the personal organizations are not recreated the same
on a second forward pass (new ids and slugs)."""

import uuid

import pytest
from django.core.management.color import no_style
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState
from django_test_migrations import sql
from django_test_migrations.signals import mute_migrate_signals

# The last migration of each app before the organization migrations (branch ``orgs``).
BEFORE = [
    ("accounts", "0006_user_deletion"),
    ("ai", "0006_move_documents_and_metering"),
    ("chat", "0002_session_documents_moved"),
    ("documents", "0002_rename_tables"),
    ("metering", "0003_usage_record_user_set_null"),
    ("ops", "0002_rename_tables"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
]
APPS = ("accounts", "ai", "chat", "documents", "metering", "ops", "tenants")


def _schema_before(migrator) -> ProjectState:
    """A clean database migrated to ``BEFORE`` and no further (see test_carve_migrations)."""
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


def _latest() -> list[tuple[str, str]]:
    graph = MigrationExecutor(connection).loader.graph
    return [node for node in graph.leaf_nodes() if node[0] in APPS]


def _seed(apps) -> dict:
    """Two users with rows of every kind, through the models as they were."""
    User = apps.get_model("accounts", "User")
    ChatSession = apps.get_model("chat", "ChatSession")
    ChatMessage = apps.get_model("chat", "ChatMessage")
    Document = apps.get_model("documents", "Document")
    ApiKey = apps.get_model("accounts", "ApiKey")
    UsageRecord = apps.get_model("metering", "UsageRecord")
    Generation = apps.get_model("ai", "Generation")
    rows: dict = {"users": {}, "sessions": {}, "messages": {}, "documents": {}, "keys": {}}
    rows.update({"usage": {}, "generations": {}})
    for n, email in enumerate(("ann@example.com", "ben@example.com")):
        user = User.objects.create(email=email, username=email.split("@")[0], password="!")
        rows["users"][user.pk] = email
        for s in range(2):
            session = ChatSession.objects.create(user=user, title=f"{email} chat {s}")
            rows["sessions"][session.pk] = user.pk
            for m in range(2):
                message = ChatMessage.objects.create(
                    session=session, user=user, message=f"q{m}", response=f"a{m}"
                )
                rows["messages"][message.pk] = user.pk
        document = Document.objects.create(
            id=uuid.uuid4(),
            owner=user,
            title="Manual",
            file=f"documents/{user.pk}/manual.txt",
            file_type="text",
            sha256=f"{n}" * 64,
            status="ready",
        )
        session.documents.add(document)
        rows["documents"][document.pk] = user.pk
        key = ApiKey.objects.create(
            user=user, name="k", prefix=f"pre{n}", secret_hash=f"{n}" * 64, scopes=["chat"]
        )
        rows["keys"][key.pk] = user.pk
        usage = UsageRecord.objects.create(
            user=user, kind="chat", provider="offline", model="m", total_tokens=10 + n
        )
        rows["usage"][usage.pk] = user.pk
        generation = Generation.objects.create(user=user, prompt="p", response="r", model="m")
        rows["generations"][generation.pk] = user.pk
    # A deleted user's usage (user set null) stays without an organization (accounting).
    orphan = UsageRecord.objects.create(user=None, kind="chat", provider="p", model="m")
    rows["orphan_usage"] = orphan.pk
    return rows


@pytest.mark.django_db(transaction=True)
def test_every_row_lands_in_its_owners_personal_organization(migrator):
    old_state = _schema_before(migrator)
    rows = _seed(old_state.apps)

    apps = migrator.apply_tested_migration(_latest()).apps
    Membership = apps.get_model("tenants", "Membership")
    personal = {}
    for user_id in rows["users"]:
        membership = Membership.objects.select_related("organization").get(user_id=user_id)
        assert (membership.role, membership.is_default, membership.status) == (
            "owner",
            True,
            "active",
        )
        assert membership.organization.is_personal
        personal[user_id] = membership.organization_id
    assert len(set(personal.values())) == 2  # one organization each

    def organizations(app: str, model: str, owner: str) -> dict:
        manager = apps.get_model(app, model)._base_manager
        return dict(manager.values_list("pk", "organization_id")), dict(
            manager.values_list("pk", owner)
        )

    for key, (app, model, owner) in {
        "sessions": ("chat", "ChatSession", "user_id"),
        "messages": ("chat", "ChatMessage", "user_id"),
        "documents": ("documents", "Document", "owner_id"),
        "keys": ("accounts", "ApiKey", "user_id"),
        "generations": ("ai", "Generation", "user_id"),
    }.items():
        by_org, by_owner = organizations(app, model, owner)
        assert by_owner == rows[key], key  # nothing lost, nothing added
        assert {pk: personal[rows[key][pk]] for pk in rows[key]} == by_org, key
    UsageRecord = apps.get_model("metering", "UsageRecord")
    for pk, user_id in rows["usage"].items():
        assert UsageRecord.objects.get(pk=pk).organization_id == personal[user_id]
    assert UsageRecord.objects.get(pk=rows["orphan_usage"]).organization_id is None
    # The grounding of a chat in a document survived.
    Document = apps.get_model("documents", "Document")
    assert all(d.chat_sessions.exists() for d in Document._base_manager.all())


@pytest.mark.django_db(transaction=True)
def test_the_organization_migrations_reverse_keeping_every_row(migrator):
    old_state = _schema_before(migrator)
    rows = _seed(old_state.apps)
    migrator.apply_tested_migration(_latest())

    back = migrator.apply_tested_migration([*BEFORE, ("tenants", None)]).apps
    assert "tenants_organization" not in connection.introspection.table_names()
    for key, (app, model) in {
        "sessions": ("chat", "ChatSession"),
        "messages": ("chat", "ChatMessage"),
        "documents": ("documents", "Document"),
        "keys": ("accounts", "ApiKey"),
        "generations": ("ai", "Generation"),
        "usage": ("metering", "UsageRecord"),
    }.items():
        manager = back.get_model(app, model).objects
        assert set(rows[key]) <= set(manager.values_list("pk", flat=True)), key
        assert "organization" not in {f.name for f in back.get_model(app, model)._meta.fields}
