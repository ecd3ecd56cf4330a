"""What the cases of ``tests/tenants/cases*.py`` are made of: the request, what B must see
of A, the outcome per organization role, and the role rows and walk checks they share.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.tenants.world import A_USAGE_TOKENS, Ids, World, assert_no_trace_of_a

ROLES = ("owner", "admin", "member", "viewer", "outsider")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    format: str = "json"


Check = Callable[[World, Any, Any], None]


@dataclass(frozen=True)
class Case:
    call: Callable[[Ids], Call]
    walk: Check
    roles: dict[str, int]
    # The route authenticates: a foreign X-Tenant-ID is answered TENANT_NOT_FOUND.
    tenant: bool = True
    # Needs the vector store (search, retrieval into answers).
    indexed: bool = False
    # About the caller's own account (a login, a reset mail): the walk aims it at b1's rows.
    own: bool = False
    # Roles whose row fails today because the code does not follow the rule yet: role ->
    # what is wrong (the matrix marks them xfail(strict=True), so the fix must remove them).
    role_gaps: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # Django settings the case runs with (a configured webhook secret, ...).
    settings: dict[str, Any] = field(default_factory=dict)
    # Settings of the isolation walk only, over ``settings`` (a provider that can fine-tune,
    # so that the walk reaches the lookups the offline provider's 409 answers before).
    walk_settings: dict[str, Any] = field(default_factory=dict)


# --- role rows --------------------------------------------------------------------------------
def everyone(status: int) -> dict[str, int]:
    """Every member reads it; an outsider's organization is not found."""
    return {"owner": status, "admin": status, "member": status, "viewer": status, "outsider": 404}


def writers(status: int) -> dict[str, int]:
    """Owners, admins and members write; a viewer never does (``core.policies.can_write``)."""
    return {**everyone(status), "viewer": 403}


def platform_admins_only() -> dict[str, int]:
    """A platform-admin endpoint: no organization role opens it (an org owner is not a
    platform admin)."""
    return {**everyone(403)}


def account_route(status: int) -> dict[str, int]:
    """About the account itself, the same for every role; the organization header is
    still resolved first, so an outsider is not found."""
    return everyone(status)


def anonymous_route(status: int) -> dict[str, int]:
    """No authentication: the organization plays no part."""
    return dict.fromkeys(ROLES, status)


# --- walk checks --------------------------------------------------------------------------------
def status_is(*expected: int) -> Check:
    def check(world: World, response: Any, client: Any) -> None:
        assert response.status_code in expected, (response.status_code, _text(response))

    return check


def not_found(world: World, response: Any, client: Any) -> None:
    assert response.status_code == 404, (response.status_code, _text(response))


def _text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return "<stream>"
    return response.content.decode(errors="replace")


def items_of(body: Any) -> list[Any]:
    if isinstance(body, dict):
        for key in ("results", "data", "items", "keys"):
            if isinstance(body.get(key), list):
                return body[key]
    return body if isinstance(body, list) else []


def list_without(*fields: str) -> Check:
    """A 200 list none of whose items is A's (by the ids of ``fields`` of a1 and a2)."""

    def check(world: World, response: Any, client: Any) -> None:
        assert response.status_code == 200, _text(response)
        items = items_of(response.json())
        seen = {str(item.get("id")) for item in items if isinstance(item, dict)}
        for label in ("a1", "a2"):
            for name in fields:
                assert str(getattr(world.ids[label], name)) not in seen, (label, name, items)
        own = world.ids["b1"]
        # The list works (b1's own row is there), so the absence above means something.
        assert any(str(getattr(own, name)) in seen for name in fields), items

    return check


def _usage_total(body: Any) -> int:
    """Sum of every ``total_tokens`` in a usage answer."""
    if isinstance(body, dict):
        own = body.get("total_tokens")
        nested = sum(_usage_total(v) for k, v in body.items() if k != "total_tokens")
        return (own if isinstance(own, int) else 0) + nested
    if isinstance(body, list):
        return sum(_usage_total(v) for v in body)
    return 0


def usage_of_b_only(world: World, response: Any, client: Any) -> None:
    assert response.status_code == 200, _text(response)
    body = response.json()
    assert str(A_USAGE_TOKENS) not in _text(response)
    assert _usage_total(body) > 0, body  # b1's own usage is counted
    assert _usage_total(body) < A_USAGE_TOKENS, body


def search_never_finds_a(world: World, response: Any, client: Any) -> None:
    assert response.status_code == 200, _text(response)
    found = {str(r["document_id"]) for r in items_of(response.json())}
    own = world.ids["b1"]
    assert found & {own.document, own.shared_document}, response.json()


def _cites_only_b(world: World, document_ids: set[str]) -> None:
    own = world.ids["b1"]
    # Grounded in b1's documents (so retrieval ran), never in A's.
    assert document_ids, "the answer cites nothing: retrieval did not run"
    assert document_ids <= {own.document, own.shared_document}, document_ids


def answer_never_cites_a(world: World, response: Any, client: Any) -> None:
    assert response.status_code == 200, _text(response)
    assert_no_trace_of_a(world, _text(response))
    _cites_only_b(world, {str(c["document_id"]) for c in response.json().get("citations", [])})


def chat_never_grounded_in_a(world: World, response: Any, client: Any) -> None:
    """A's session is not found; a new question in B is answered from B's documents only."""
    assert response.status_code == 404, _text(response)
    answer = client.post("/api/v1/chat/message", {"message": ANSWERS_QUESTION}, format="json")
    assert answer.status_code in (200, 201), _text(answer)
    assert_no_trace_of_a(world, _text(answer))
    _cites_only_b(world, {str(s["document_id"]) for s in answer.json()["sources"]})


ME = "/api/v1/users/me"
ANSWERS_QUESTION = "What does the warranty say? How long does the warranty last? Nine decades?"
