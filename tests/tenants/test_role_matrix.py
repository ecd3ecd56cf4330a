"""The role matrix (issue 18): for every (route, method) of the API, the status an owner,
an admin, a member and a viewer of an organization get in it, and a non-member naming it.

Table-driven from ``tests/tenants/cases.py`` (``Case.roles``), with the walk's rule: a
route without a row fails :func:`test_every_route_has_a_row`. Each request is aimed at the
acting member's own rows in the organization (their chat, document, key, generation), so
the status says what the role may do, not whose row it is. Viewers never write
(``core.policies.can_write``); platform-admin endpoints stay closed to every organization
role, the owner's included (an organization owner is not a platform administrator)."""

import pytest

from core.actor import actor_for_system
from tenants.models import MemberRole
from tenants.services import organization_create
from tests.factories import UserFactory
from tests.tenants.cases import CASES, ROLES
from tests.tenants.routes import pattern_of, walked_pairs
from tests.tenants.test_cross_tenant_walk import error_code, response_text, send
from tests.tenants.world import add_member, client_for, seed_user_data

pytestmark = pytest.mark.django_db


def test_every_route_has_a_row():
    incomplete = sorted(
        f"{name} {method} ({pattern_of(name)})"
        for name, method in walked_pairs()
        if (name, method) not in CASES or set(CASES[name, method].roles) != set(ROLES)
    )
    assert not incomplete, f"Routes without a full role row (tests/tenants/cases.py): {incomplete}"


def _organization_with_every_role():
    system = actor_for_system()
    users = {role: UserFactory(email=f"{role}@org.test") for role in ROLES}
    organization = organization_create(
        actor=system, name="Org", owner=users["owner"], slug="the-org"
    )
    for role in (MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER):
        add_member(organization, users[role], role)
    # The outsider is a member elsewhere only.
    elsewhere = organization_create(actor=system, name="Elsewhere", owner=users["outsider"])
    ids = {
        role: seed_user_data(users[role], organization, role, 5)
        for role in ("owner", "admin", "member", "viewer")
    }
    ids["outsider"] = ids["owner"]  # aimed at the owner's rows: it must not matter
    seed_user_data(users["outsider"], elsewhere, "outsider", 5)
    return organization, users, ids


def _rows():
    for key in sorted(CASES):
        case = CASES[key]
        for role in ROLES:
            gap = case.role_gaps.get(role)
            marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
            yield pytest.param(key, case, role, id=f"{key[0]}-{key[1]}-{role}", marks=marks)


@pytest.mark.parametrize(("key", "case", "role"), list(_rows()))
def test_role_matrix(key, case, role, settings, tmp_path):
    settings.AI_PROVIDER = "offline"
    settings.MEDIA_ROOT = tmp_path / "media"
    for name, value in case.settings.items():
        setattr(settings, name, value)
    if case.indexed:
        from ai.vectorstore import reset_vector_stores

        reset_vector_stores()
        settings.QDRANT_PATH = tmp_path / "qdrant"
        settings.QDRANT_BACKEND = "edge"
        settings.QDRANT_LOCATION = ""
    organization, users, ids = _organization_with_every_role()
    client = client_for(users[role], organization)
    response = send(client, case.call(ids[role]))
    text = response_text(response)
    expected = case.roles[role]
    assert response.status_code == expected, (key, role, response.status_code, text[:500])
    if role == "outsider" and case.tenant:
        assert error_code(response) == "TENANT_NOT_FOUND", text[:500]
