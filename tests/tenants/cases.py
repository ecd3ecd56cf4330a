"""One case per (route, method) of the API: the request, what B must see of A, and the
outcome per organization role.

A case's ``call`` is aimed at the rows of one user in one organization (``Ids``): in the
isolation walk at a1's rows in A (requested by b1 from B), in the role matrix at the acting
member's own rows. ``walk`` asserts what b1 gets (beyond the walk's generic checks: no
trace of A in any response, nothing of A changed); ``roles`` is the status each role gets
in its own organization (``outsider``: a user naming an organization they are not a member
of). A route missing here fails both tests by name (``tests/tenants/routes.py``)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import DEFAULT_PASSWORD
from tests.tenants.world import A_USAGE_TOKENS, FLAG, Ids, World, assert_no_trace_of_a

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

CASES: dict[tuple[str, str], Case] = {
    # --- accounts: authentication (no organization data either way) ---------------------------
    ("api:auth-register", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/register", {"email": "x"}),
        walk=status_is(400),
        roles=anonymous_route(400),
        tenant=False,
    ),
    ("api:auth-login", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/login", {"email": ids.user.email, "password": DEFAULT_PASSWORD}
        ),
        walk=status_is(200),
        roles=anonymous_route(200),
        tenant=False,
        own=True,
    ),
    ("api:auth-refresh", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/refresh", {"refresh": "not-a-token"}),
        walk=status_is(401),
        roles=anonymous_route(401),
        tenant=False,
    ),
    ("api:auth-refresh", "DELETE"): Case(
        call=lambda ids: Call("DELETE", "/api/v1/auth/refresh", {"refresh": "not-a-token"}),
        walk=status_is(204, 401),
        roles=anonymous_route(204),
        tenant=False,
    ),
    ("api:auth-logout", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/logout", {"refresh": "not-a-token"}),
        walk=status_is(204, 400, 401),
        roles=account_route(401),
    ),
    ("api:auth-logout-all", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/logout-all", {}),
        walk=status_is(204),
        roles=account_route(204),
    ),
    ("api:auth-email-verify-request", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/email/verify/request", {}),
        walk=status_is(409),
        roles=account_route(409),
    ),
    ("api:auth-email-verify", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/email/verify", {"token": "bad"}),
        walk=status_is(400),
        roles=anonymous_route(400),
        tenant=False,
    ),
    ("api:auth-password-forgot", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/password/forgot", {"email": ids.user.email}),
        walk=status_is(202, 204, 200),
        roles=anonymous_route(202),
        tenant=False,
        own=True,
    ),
    ("api:auth-password-reset", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/password/reset", {"token": "bad", "password": "x" * 20}
        ),
        walk=status_is(400),
        roles=anonymous_route(400),
        tenant=False,
    ),
    ("api:auth-password-change", "POST"): Case(
        call=lambda ids: Call(
            "POST",
            "/api/v1/auth/password/change",
            {"current_password": "wrong", "new_password": "another long passphrase"},
        ),
        walk=status_is(403),
        roles=account_route(403),
    ),
    ("api:auth-code-request", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/code/request", {"email": ids.user.email}),
        walk=status_is(202, 204, 200),
        roles=anonymous_route(202),
        tenant=False,
        own=True,
    ),
    ("api:auth-code-verify", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/code/verify", {"email": ids.user.email, "code": "000000"}
        ),
        walk=status_is(401),
        roles=anonymous_route(401),
        tenant=False,
        own=True,
    ),
    ("api:auth-mfa-verify", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/mfa/verify", {"mfa_token": "bad", "code": "000000"}
        ),
        walk=status_is(400, 401),
        roles=anonymous_route(401),
        tenant=False,
    ),
    ("api:auth-mfa-enable", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/mfa/enable", {"password": "wrong"}),
        walk=status_is(403),
        roles=account_route(403),
    ),
    ("api:auth-mfa-confirm", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/auth/mfa/confirm", {"code": "000000"}),
        walk=status_is(400),
        roles=account_route(400),
    ),
    ("api:auth-mfa-disable", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/mfa/disable", {"code": "000000", "password": "wrong"}
        ),
        walk=status_is(409),
        roles=account_route(409),
    ),
    ("api:auth-mfa-backup-codes", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/auth/mfa/backup-codes", {"code": "000000", "password": "wrong"}
        ),
        walk=status_is(409),
        roles=account_route(409),
    ),
    ("api:root", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/"),
        walk=status_is(200),
        # Public, but an authenticated caller's organization is resolved all the same.
        roles=everyone(200),
    ),
    # --- accounts: the user's own account and keys ---------------------------------------------
    ("api:user-me", "GET"): Case(
        call=lambda ids: Call("GET", ME), walk=status_is(200), roles=account_route(200)
    ),
    ("api:user-me", "PUT"): Case(
        call=lambda ids: Call(
            "PUT", ME, {"username": "renamed-user", "full_name": "Renamed", "preferences": {}}
        ),
        walk=status_is(200),
        roles=account_route(200),
    ),
    ("api:user-me", "PATCH"): Case(
        call=lambda ids: Call("PATCH", ME, {"full_name": "Renamed"}),
        walk=status_is(200),
        roles=account_route(200),
    ),
    ("api:user-password", "POST"): Case(
        call=lambda ids: Call(
            "POST",
            "/api/v1/users/me/password",
            {"current_password": "wrong", "new_password": "another long passphrase"},
        ),
        walk=status_is(403),
        roles=account_route(403),
    ),
    ("api:user-api-keys", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/users/me/api-keys"),
        walk=list_without("api_key"),
        roles=account_route(200),
    ),
    ("api:user-api-keys", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/users/me/api-keys", {"name": "k", "password": DEFAULT_PASSWORD}
        ),
        walk=status_is(201),
        roles=account_route(201),
    ),
    ("api:user-api-key-detail", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/users/me/api-keys/{ids.api_key}"),
        walk=not_found,
        roles=account_route(200),
    ),
    ("api:user-api-key-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", f"/api/v1/users/me/api-keys/{ids.api_key}"),
        walk=not_found,
        roles=account_route(204),
    ),
    # --- accounts: platform administration of users -------------------------------------------
    ("api:user-list", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/users"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-detail", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/users/{ids.user.pk}"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-detail", "PUT"): Case(
        call=lambda ids: Call("PUT", f"/api/v1/users/{ids.user.pk}", {"full_name": "x"}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-detail", "PATCH"): Case(
        call=lambda ids: Call("PATCH", f"/api/v1/users/{ids.user.pk}", {"full_name": "x"}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-suspend", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/users/{ids.user.pk}/suspend", {}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-reactivate", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/users/{ids.user.pk}/reactivate", {}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-deletion", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/users/{ids.user.pk}/deletion"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:user-deletion", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/users/{ids.user.pk}/deletion", {}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    # --- chat ------------------------------------------------------------------------------------
    ("api:chat-session-list", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/chat/sessions"),
        walk=list_without("session"),
        roles=everyone(200),
    ),
    ("api:chat-session-list", "POST"): Case(
        call=lambda ids: Call(
            "POST",
            "/api/v1/chat/sessions",
            {"title": "new", "document_ids": [ids.document, ids.shared_document]},
        ),
        # Grounding a new chat in A's documents: they do not exist from B.
        walk=status_is(400, 404),
        roles=writers(201),
    ),
    ("api:chat-session-detail", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/chat/sessions/{ids.session}"),
        walk=not_found,
        roles=everyone(200),
    ),
    ("api:chat-session-detail", "PATCH"): Case(
        call=lambda ids: Call("PATCH", f"/api/v1/chat/sessions/{ids.session}", {"title": "x"}),
        walk=not_found,
        roles=writers(200),
    ),
    ("api:chat-session-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", f"/api/v1/chat/sessions/{ids.session}"),
        walk=not_found,
        roles=writers(204),
    ),
    ("api:chat-session-messages", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/chat/sessions/{ids.session}/messages"),
        walk=not_found,
        roles=everyone(200),
    ),
    ("api:chat-session-regenerate", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/chat/sessions/{ids.session}/regenerate", {}),
        walk=not_found,
        roles=writers(200),
    ),
    ("api:chat-message-send", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/chat/message", {"message": ANSWERS_QUESTION, "session_id": ids.session}
        ),
        walk=chat_never_grounded_in_a,
        roles=writers(200),
        indexed=True,
    ),
    ("api:chat-message-feedback", "POST"): Case(
        call=lambda ids: Call(
            "POST", f"/api/v1/chat/messages/{ids.message}/feedback", {"rating": "up"}
        ),
        walk=not_found,
        roles=writers(200),
    ),
    # --- ai ---------------------------------------------------------------------------------
    ("api:ai-models", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/ai/models"),
        walk=status_is(200),
        roles=everyone(200),
    ),
    ("api:ai-model-load", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/ai/models/offline-extractive/load", {}),
        walk=status_is(200),
        # Loading a model on an on-demand provider (Ollama) is open to every writer.
        roles=writers(200),
    ),
    ("api:ai-generate", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/ai/generate", {"prompt": ANSWERS_QUESTION}),
        walk=status_is(201),
        roles=writers(201),
    ),
    ("api:ai-generate-batch", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/ai/generate/batch", {"prompts": [ANSWERS_QUESTION, "b"]}
        ),
        walk=status_is(200),
        roles=writers(200),
    ),
    ("api:ai-stream-generate", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/ai/stream/generate?prompt=hello"),
        walk=status_is(200),
        roles=writers(200),
    ),
    ("api:ai-ideas-history", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/ai/ideas/history"),
        walk=list_without("generation"),
        roles=everyone(200),
    ),
    ("api:ai-idea-rate", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/ai/ideas/{ids.generation}/rate", {"stars": 1}),
        walk=not_found,
        roles=writers(200),
        role_gaps={
            "viewer": "chat.ideas.idea_rate does not check core.policies.can_write: a viewer "
            "rates a generation (200), while chat feedback refuses viewers (403)"
        },
    ),
    # --- documents and search ---------------------------------------------------------------
    ("api:search", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/search", {"query": ANSWERS_QUESTION, "top_k": 20}),
        walk=search_never_finds_a,
        roles=everyone(200),
        indexed=True,
    ),
    ("api:documents-list", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/documents"),
        walk=list_without("document", "shared_document"),
        roles=everyone(200),
    ),
    ("api:documents-list", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/documents", {"file": "upload"}, format="multipart"),
        walk=status_is(202),
        roles=writers(202),
        indexed=True,
    ),
    ("api:documents-detail", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/documents/{ids.document}"),
        walk=not_found,
        roles=everyone(200),
        extra={"also": "shared_document"},
    ),
    ("api:documents-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", f"/api/v1/documents/{ids.document}"),
        walk=not_found,
        roles=writers(204),
        extra={"also": "shared_document"},
    ),
    ("api:documents-file", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/documents/{ids.document}/file?token=forged"),
        walk=not_found,
        roles=anonymous_route(404),
        tenant=False,
    ),
    ("api:documents-link", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/documents/{ids.document}/link", {}),
        walk=not_found,
        roles=everyone(200),
        extra={"also": "shared_document"},
    ),
    ("api:documents-reindex", "POST"): Case(
        call=lambda ids: Call("POST", f"/api/v1/documents/{ids.document}/reindex", {}),
        walk=not_found,
        roles=writers(202),
        extra={"also": "shared_document"},
    ),
    # --- usage --------------------------------------------------------------------------------
    ("api:usage", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/usage"),
        walk=usage_of_b_only,
        roles=everyone(200),
    ),
    # --- operations (platform administration) ---------------------------------------------------
    ("api:admin-usage", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/admin/usage"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-quota", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/admin/quotas/{ids.user.pk}"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-quota", "PUT"): Case(
        call=lambda ids: Call("PUT", f"/api/v1/admin/quotas/{ids.user.pk}", {"daily_tokens": 1}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-rate-limits", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/admin/rate-limits"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-rate-limits-unblock", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/admin/rate-limits/unblock", {"key": "x"}),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-stats", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/admin/stats"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-feature-flags", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/admin/feature-flags"),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    ("api:admin-feature-flags", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/api/v1/admin/feature-flags", {"name": FLAG, "enabled": True}
        ),
        walk=status_is(403),
        roles=platform_admins_only(),
    ),
    # --- the OpenAI-compatible API ---------------------------------------------------------------
    ("openai-chat-completions", "POST"): Case(
        call=lambda ids: Call(
            "POST",
            "/v1/chat/completions",
            {
                "model": "offline-extractive",
                "messages": [{"role": "user", "content": ANSWERS_QUESTION}],
                "retrieval": {"enabled": True, "top_k": 20},
            },
        ),
        walk=answer_never_cites_a,
        roles=writers(200),
        indexed=True,
    ),
    ("openai-embeddings", "POST"): Case(
        call=lambda ids: Call(
            "POST", "/v1/embeddings", {"model": "offline-hashed", "input": "hello"}
        ),
        walk=status_is(200),
        roles=writers(200),
    ),
    ("openai-models", "GET"): Case(
        call=lambda ids: Call("GET", "/v1/models"), walk=status_is(200), roles=everyone(200)
    ),
    ("openai-model", "GET"): Case(
        call=lambda ids: Call("GET", "/v1/models/offline-extractive"),
        walk=status_is(200, 404),
        roles=everyone(200),
    ),
}
