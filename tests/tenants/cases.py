"""One case per (route, method) of the API: the request, what B must see of A, and the
outcome per organization role.

A case's ``call`` is aimed at the rows of one user in one organization (``Ids``): in the
isolation walk at a1's rows in A (requested by b1 from B), in the role matrix at the acting
member's own rows. ``walk`` asserts what b1 gets (beyond the walk's generic checks: no
trace of A in any response, nothing of A changed); ``roles`` is the status each role gets
in its own organization (``outsider``: a user naming an organization they are not a member
of). A route missing here fails both tests by name (``tests/tenants/routes.py``). The
pieces are in ``casekit.py``; the organizations, billing and fine-tuning routes have their
own modules."""

from tests.factories import DEFAULT_PASSWORD
from tests.tenants.casekit import (
    ANSWERS_QUESTION,
    ME,
    ROLES,
    Call,
    Case,
    account_route,
    anonymous_route,
    answer_never_cites_a,
    chat_never_grounded_in_a,
    everyone,
    list_without,
    not_found,
    platform_admins_only,
    search_never_finds_a,
    status_is,
    usage_of_b_only,
    writers,
)
from tests.tenants.cases_billing import BILLING_CASES
from tests.tenants.cases_organizations import ORGANIZATION_CASES
from tests.tenants.cases_training import TRAINING_CASES
from tests.tenants.world import FLAG

__all__ = ["CASES", "ROLES", "Call", "Case"]

_CORE_CASES: dict[tuple[str, str], Case] = {
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
    ("api:documents-detail", "PATCH"): Case(
        call=lambda ids: Call("PATCH", f"/api/v1/documents/{ids.document}", {"title": "x"}),
        walk=not_found,
        roles=writers(200),
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

CASES: dict[tuple[str, str], Case] = {
    **_CORE_CASES,
    **ORGANIZATION_CASES,
    **BILLING_CASES,
    **TRAINING_CASES,
}
