"""Personal API keys: creation, listing, revocation, and the ``Api-Key`` authentication.

A key looks like ``ak_<prefix>_<secret>``: the prefix is public (shown in lists, tells keys
apart), the secret has 256 random bits. Only ``sha256(key)`` is stored: with that much entropy
a slow password hash buys nothing, and a fast one lets each request find its key in one indexed
query. Keys work on the REST API only (not the admin console, not the WebSocket, which takes
short-lived access tokens).

Scopes, checked on every request by the authentication class:

* ``read``: safe methods (GET/HEAD/OPTIONS) everywhere the owner can read;
* ``chat``: every method on the chat API (``/api/v1/chat/``, ``/api/v1/ai/``);
* ``documents``: every method on ``/api/v1/documents/`` and ``/api/v1/search``;
* ``openai``: the OpenAI-compatible API under ``/v1/``, where the key is also accepted as
  ``Authorization: Bearer <key>`` (what OpenAI clients send).

Writes to the accounts API (profile, password, MFA, logout, API-key management) are never
reachable with a key, whatever its scopes: a leaked key must not be able to take the account
over or mint more keys. The owner's role still applies on top (a viewer's key cannot write).
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from accounts.models import ApiKey, ApiKeyScope, User
from accounts.stepup import user_password_confirm
from config.exceptions import ApplicationError, NotFoundError, PermissionDeniedError
from core.actor import Actor
from core.tenant_models import organization_for_new_row
from ops.audit import audit_log

KEYWORD = "Api-Key"
KEY_PREFIX = "ak"
LAST_USED_PRECISION = timedelta(seconds=60)
# Path prefixes (below the URL root) that each scope opens to every method.
SCOPE_PATHS: dict[str, tuple[str, ...]] = {
    ApiKeyScope.CHAT: ("/api/v1/chat/", "/api/v1/ai/"),
    ApiKeyScope.DOCUMENTS: ("/api/v1/documents", "/api/v1/search"),
    ApiKeyScope.OPENAI: ("/v1/",),
}
# Never reachable with a key, not even for reading: a key cannot list or mint keys.
FORBIDDEN_PATHS = ("/api/v1/users/me/api-keys",)


class ApiKeyScopeError(PermissionDeniedError):
    default_code = "API_KEY_SCOPE"
    default_detail = "This API key's scopes do not allow this request."


class ApiKeyLimitError(ApplicationError):
    status_code = 409
    default_code = "API_KEY_LIMIT"
    default_detail = "You have too many active API keys. Revoke one first."


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- Scoping selectors: the only queries that say whose keys these are ---------------------


def api_key_list_of_user(*, user: User) -> QuerySet[ApiKey]:
    """Every key of ``user``, newest first (revoked and expired ones included)."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-pk")


def api_key_list(*, actor: Actor) -> QuerySet[ApiKey]:
    """The actor's own keys, newest first (revoked and expired ones marked inactive)."""
    return api_key_list_of_user(user=actor.user)


def api_key_get(*, actor: Actor, key_id: int) -> ApiKey:
    """One of the actor's keys; anybody else's is a 404."""
    key = api_key_list(actor=actor).filter(pk=key_id).first()
    if key is None:
        raise NotFoundError("API key not found.")
    return key


def api_key_create(
    *,
    name: str,
    password: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """Create a key (step-up: the current password); returns it and the secret (which is not
    stored and never shown again)."""
    # A key outlives access tokens: a stolen token must not be able to mint a lasting one.
    user_password_confirm(password=password, purpose="api_key_create", actor=actor)
    scopes = sorted(set(scopes)) if scopes else sorted(ApiKeyScope.values)
    if any(scope not in ApiKeyScope.values for scope in scopes):
        raise exceptions.ValidationError({"scopes": ["Unknown scope."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise exceptions.ValidationError({"expires_at": ["The expiry must be in the future."]})
    with transaction.atomic():
        # Lock the owner row so parallel creations cannot pass the limit together.
        User.objects.select_for_update().filter(pk=actor.user.pk).first()
        active = (
            api_key_list(actor=actor)
            .filter(revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
            .count()
        )
        if active >= int(settings.API_KEYS_MAX_PER_USER):
            raise ApiKeyLimitError()
        prefix = secrets.token_hex(4)
        raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        key = ApiKey.objects.create(
            user=actor.user,
            # Issued for the organization the request acts in; it acts there only.
            organization_id=actor.organization_id or organization_for_new_row(actor.user.pk),
            name=name.strip(),
            prefix=prefix,
            secret_hash=api_key_hash(raw),
            scopes=scopes,
            expires_at=expires_at,
        )
    audit_log(action="api_key_created", actor=actor, target=actor.user, key_id=key.pk)
    return key, raw


def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key now (idempotent); the next request with it fails."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log(action="api_key_revoked", actor=actor, target=key.user, key_id=key.pk)
    return key


def api_keys_revoke_all(*, user: User, actor: Actor, reason: str) -> int:
    """Revoke every active key of ``user`` now (logout-all, password reset); returns how many.

    One UPDATE: the next request with any of them fails, on every worker.
    """
    revoked = (
        api_key_list_of_user(user=user)
        .filter(revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )
    if revoked:
        audit_log(
            action="api_keys_revoked",
            actor=actor,
            target=user,
            reason=reason,
            count=revoked,
        )
    return revoked


def api_key_allows(*, key: ApiKey, method: str, path: str) -> bool:
    """Whether ``key``'s scopes open ``method`` on ``path`` (see the module docstring)."""
    if path.startswith(FORBIDDEN_PATHS):
        return False
    if method in SAFE_METHODS and ApiKeyScope.READ in key.scopes:
        return True
    return any(
        scope in key.scopes and path.startswith(prefixes) for scope, prefixes in SCOPE_PATHS.items()
    )


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>`` on the REST API; ``request.auth`` is the ``ApiKey``."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != KEYWORD.lower():
            return None
        if len(header) != 2 or len(header[1]) > 200:
            raise exceptions.AuthenticationFailed("Invalid API key header.")
        return self.authenticate_key(request, header[1].decode("latin-1"))

    def authenticate_key(self, request: Request, raw: str) -> tuple[User, ApiKey]:
        """The key's user, or ``AuthenticationFailed`` / ``ApiKeyScopeError``."""
        key = ApiKey.objects.select_related("user").filter(secret_hash=api_key_hash(raw)).first()
        if key is None or not key.is_usable:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive.", code="user_inactive")
        if not api_key_allows(key=key, method=request.method or "GET", path=request.path_info):
            raise ApiKeyScopeError()
        self._touch(key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD

    @staticmethod
    def _touch(key: ApiKey) -> None:
        # At most one write a minute per key, and only when it is due: a conditional UPDATE.
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
            ).update(last_used_at=now)


class BearerApiKeyAuthentication(ApiKeyAuthentication):
    """``Authorization: Bearer ak_...``: a personal key as OpenAI clients send it (``/v1/``).

    Bearer values that are not keys are left to the access-token authentication.
    """

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = get_authorization_header(request).split()
        if len(header) != 2 or header[0].decode("latin-1").lower() != "bearer":
            return None
        raw = header[1].decode("latin-1")
        if not raw.startswith(f"{KEY_PREFIX}_"):
            return None
        if len(raw) > 200:
            raise exceptions.AuthenticationFailed("Invalid API key header.")
        return self.authenticate_key(request, raw)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
