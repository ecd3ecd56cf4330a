"""Isolation proven on every route (issue 18): nothing of organization A is visible,
changeable or countable from organization B.

The routes come from Django's URL resolver (``tests/tenants/routes.py``); every
(route, method) needs a case in ``tests/tenants/cases.py``, so a new endpoint without one
fails :func:`test_every_route_has_a_case` by name. Each case runs twice: as b1 acting in B,
and as b1 naming A in ``X-Tenant-ID`` (which is ``TENANT_NOT_FOUND`` on every authenticated
route). Both times, no response may carry a trace of A (its ids, slug, members' emails, the
word in every text of A) and nothing of A may change."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core.actor import Actor
from core.tenancy import organization_scope
from documents.models import Document, DocumentVisibility
from tests.tenants.cases import CASES, Call
from tests.tenants.routes import EXCLUDED_ROUTES, all_routes, pattern_of, walked_pairs
from tests.tenants.world import (
    SECRET,
    World,
    assert_no_trace_of_a,
    build_world,
    client_for,
    snapshot,
)

pytestmark = pytest.mark.django_db

# Leaks the walk found that are not fixed yet: (route, method, variant) -> what leaks.
KNOWN_LEAKS: dict[tuple[str, str, str], str] = {}


def test_every_route_has_a_case():
    missing = sorted(walked_pairs() - set(CASES))
    assert not missing, (
        "Routes without an isolation case (add them to tests/tenants/cases.py): "
        + (", ".join(f"{name} {method} ({pattern_of(name)})" for name, method in missing))
    )


def test_no_case_for_a_route_that_is_gone():
    stale = sorted(set(CASES) - walked_pairs())
    assert not stale, f"Cases for routes the resolver no longer has: {stale}"
    names = {route.name for route in all_routes()}
    assert set(EXCLUDED_ROUTES) <= names, set(EXCLUDED_ROUTES) - names


def send(client: APIClient, call: Call):
    body = dict(call.body or {})
    if call.format == "multipart" and body.get("file") == "upload":
        body["file"] = SimpleUploadedFile(
            f"{uuid.uuid4().hex}.txt", f"bravo notes {uuid.uuid4().hex}".encode()
        )
    method = getattr(client, call.method.lower())
    if call.method == "GET":
        return method(call.path)
    return method(call.path, body, format=call.format)


def response_text(response) -> str:
    if getattr(response, "streaming", False):
        if response.is_async:

            async def collect() -> bytes:
                return b"".join([chunk async for chunk in response.streaming_content])

            return async_to_sync(collect)().decode(errors="replace")
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def error_code(response) -> str:
    """The code of the project's envelope, or of the OpenAI-style one on ``/v1/``."""
    body = response.json()
    return str(body.get("code") or body.get("error", {}).get("code") or "").upper()


def index_documents(world: World, on_commit) -> None:
    """Replace every seeded document by one uploaded and indexed through the service (the
    vector store holds them), the shared ones marked shared afterwards."""
    for label, ids in world.ids.items():
        role = "owner" if label != "a2" else "member"
        actor = Actor(user=ids.user, organization=ids.organization, membership_role=role)
        with organization_scope(ids.organization.pk):
            Document.objects.filter(owner=ids.user).delete()
            for attr, visibility in (
                ("document", DocumentVisibility.PRIVATE),
                ("shared_document", DocumentVisibility.SHARED),
            ):
                word = SECRET if label != "b1" else "bravo"
                text = (
                    f"What does the {word} warranty say? How long does it last? The {word} "
                    f"warranty of {label} ({attr}) lasts nine decades."
                )
                from documents.services import document_create

                with on_commit(execute=True):
                    document, _ = document_create(
                        actor=actor,
                        uploaded_file=SimpleUploadedFile(f"{label}-{attr}.txt", text.encode()),
                        title=f"{label} {attr}",
                    )
                Document.objects.filter(pk=document.pk).update(visibility=visibility)
                document.refresh_from_db()
                assert document.status == "ready", (document.status, document.error)
                setattr(ids, attr, str(document.pk))


def _params():
    return [
        pytest.param(key, CASES[key], id=f"{key[0]}-{key[1]}")
        for key in sorted(CASES)
        if key in walked_pairs()
    ]


@pytest.mark.parametrize(("key", "case"), _params())
def test_b_sees_nothing_of_a(
    key, case, settings, tmp_path, request, django_capture_on_commit_callbacks
):
    world = _world_for(case, settings, tmp_path, request, django_capture_on_commit_callbacks)
    before = snapshot(world.a)
    client = client_for(world.b1, world.b)
    ids = world.ids["b1" if case.own else "a1"]
    calls = [case.call(ids)]
    also = case.extra.get("also")
    if also:  # the same request aimed at A's shared document
        calls.append(case.call(_retarget(ids, also)))
    for call in calls:
        response = send(client, call)
        text = response_text(response)
        assert_no_trace_of_a(world, text)
        case.walk(world, response, client)
    assert snapshot(world.a) == before, f"{key} changed something of A"


@pytest.mark.parametrize(("key", "case"), _params())
def test_naming_a_foreign_organization_is_not_found(
    key, case, settings, tmp_path, request, django_capture_on_commit_callbacks
):
    world = _world_for(case, settings, tmp_path, request, django_capture_on_commit_callbacks)
    before = snapshot(world.a)
    for header in (str(world.a.pk), world.a.slug):
        client = client_for(world.b1)
        client.credentials(
            HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_TENANT_ID=header
        )
        response = send(client, case.call(world.ids["b1" if case.own else "a1"]))
        text = response_text(response)
        assert_no_trace_of_a(world, text)
        if case.tenant:
            assert response.status_code == 404, (key, response.status_code, text[:500])
            assert error_code(response) == "TENANT_NOT_FOUND", text[:500]
    assert snapshot(world.a) == before, f"{key} changed something of A"


def _retarget(ids, attr: str):
    from dataclasses import replace

    return replace(ids, document=getattr(ids, attr))


def _world_for(case, settings, tmp_path, request, on_commit) -> World:
    settings.AI_PROVIDER = "offline"
    settings.MEDIA_ROOT = tmp_path / "media"
    for name, value in {**case.settings, **case.walk_settings}.items():
        setattr(settings, name, value)
    world = build_world()
    if case.indexed:
        from ai.vectorstore import reset_vector_stores

        reset_vector_stores()
        settings.QDRANT_PATH = tmp_path / "qdrant"
        settings.QDRANT_BACKEND = "edge"
        settings.QDRANT_LOCATION = ""
        request.addfinalizer(reset_vector_stores)
        index_documents(world, on_commit)
    return world
