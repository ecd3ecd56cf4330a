"""Rate limits of the API (DRF throttles) and of the other doors, on atomic counters.

Every throttle counts through :mod:`accounts.counters` (``add`` + ``incr``: parallel bursts
cannot pass more than the rate), in the Django cache (Redis when ``REDIS_URL`` is set, so
every worker agrees). Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` by scope,
read on each request. A window is fixed: it opens with its first request and refuses the
rest once full, with ``Retry-After`` until it closes.

The failure lock-out of password and code checks is :mod:`accounts.lockout`; refused keys of
both are listed in one index (:mod:`accounts.blocked`) for ``GET /api/v1/admin/rate-limits``.
"""

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from accounts import counters
from accounts.blocked import LOCKOUT_KEY_PREFIX, THROTTLE_INDEX_KEY, _digest, throttle_index_record
from accounts.lockout import lockout_clear
from accounts.tokens import mfa_token_user_id
from config.exceptions import RateLimitedError
from config.outage import CacheOutageThrottleMixin
from core.actor import Actor

if TYPE_CHECKING:
    from accounts.models import User


def throttle_unblock(
    *, user_id: int | None = None, email: str | None = None, ip: str | None = None
) -> int:
    """Clear every throttle counter and lock-out of a user or an IP; returns how many."""
    wanted: set[str] = set()
    if user_id is not None:
        wanted |= {str(user_id), f"user-{user_id}"}
    if email:
        wanted.add(_digest(email))
    if ip:
        wanted.add(ip)
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    cleared = 0
    for key, meta in list(index.items()):
        if meta["ident"] in wanted:
            index.pop(key)
            if key.startswith(LOCKOUT_KEY_PREFIX):
                continue  # lockout_clear() below lifts (and counts) it
            counters.window_clear(key)
            cleared += 1
    cache.set(THROTTLE_INDEX_KEY, index, timeout=3600)
    # Failure lock-outs are lifted by their own keys, listed or not.
    return cleared + lockout_clear(account=email, ip=ip)


def rate_limit_unblock(*, actor: Actor, user: "User | None" = None, ip: str | None = None) -> int:
    """An administrator lifts the rate limits and lock-outs of ``user`` and/or ``ip``
    (audited, whatever the door); returns how many were cleared."""
    from ops.audit import audit_log

    cleared = throttle_unblock(
        user_id=user.pk if user is not None else None,
        email=user.email if user is not None else None,
        ip=ip,
    )
    audit_log(
        action="rate_limit_unblocked", actor=actor, target=user, unblocked_ip=ip, cleared=cleared
    )
    return cleared


# --- Throttles ----------------------------------------------------------------------------


def _rate(scope: str) -> str | None:
    return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(scope)


def _throttle_key(scope: str, ident: str) -> str:
    return SimpleRateThrottle.cache_format % {"scope": scope, "ident": ident}


def _admit(*, scope: str, ident: str, num_requests: int, duration: int) -> int | None:
    """Take a place in the window of ``scope``/``ident``; None when admitted, otherwise the
    seconds until the window closes (the key is then listed in the index)."""
    key = _throttle_key(scope, ident)
    admitted, _count = counters.window_admit(key, limit=num_requests, window=duration)
    if admitted:
        return None
    throttle_index_record(key=key, scope=scope, ident=ident, window=duration)
    return counters.window_retry_after(key, window=duration)


def rate_limit_check(*, scope: str, ident: str | None) -> None:
    """The throttle of ``scope`` for a door that is not a DRF view (the admin login): raise
    429 ``RATE_LIMITED`` when ``ident`` has used up its rate."""
    throttle = _SettingsRateThrottle(scope=scope)
    if throttle.rate is None or not ident:
        return
    retry_after = _admit(
        scope=scope,
        ident=ident,
        num_requests=throttle.num_requests,
        duration=int(throttle.duration),
    )
    if retry_after is not None:
        raise RateLimitedError(
            f"Too many requests. Try again in {retry_after} seconds.",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class _AtomicThrottleMixin:
    """Counts a DRF throttle atomically and records a refused key in the index, so admins can
    list and unblock it. Mix in before a ``SimpleRateThrottle`` subclass."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:  # type: ignore[attr-defined]
            return True
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        prefix = _throttle_key(self.scope, "")  # type: ignore[attr-defined]
        self.retry_after = _admit(
            scope=self.scope,  # type: ignore[attr-defined]
            ident=self.key.removeprefix(prefix),
            num_requests=self.num_requests,  # type: ignore[attr-defined]
            duration=int(self.duration),  # type: ignore[attr-defined]
        )
        return self.retry_after is None

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


class IndexedThrottleMixin(CacheOutageThrottleMixin, _AtomicThrottleMixin):
    """Every throttle of the project derives from it: counted atomically, refusals listed for
    admins, and failing safe when the cache (Redis) is down - reads pass, writes answer 503
    (``config.outage``)."""


class IndexedAnonRateThrottle(IndexedThrottleMixin, AnonRateThrottle):
    """DRF's per-IP throttle for anonymous requests (scope ``anon``), indexed."""


class IndexedUserRateThrottle(IndexedThrottleMixin, UserRateThrottle):
    """DRF's per-user throttle (scope ``user``), indexed."""


class _RateFromSettingsMixin:
    """The rate of ``scope`` read from settings on each request (not once at import), so
    operators and tests can change it; every project throttle reads it this one way."""

    def get_rate(self) -> str | None:
        return _rate(self.scope)  # type: ignore[attr-defined]


class ScopedUserThrottle(_RateFromSettingsMixin, IndexedThrottleMixin, UserRateThrottle):
    """A per-user throttle whose rate is read from settings by ``scope`` on every request."""


class ChatMessageThrottle(ScopedUserThrottle):
    """Chat messages sent through REST, per user (scope ``chat_message``)."""

    scope = "chat_message"


class _SettingsRateThrottle(_RateFromSettingsMixin, IndexedThrottleMixin, SimpleRateThrottle):
    """A throttle with its own key (IP, account digest), its rate read from settings."""

    def __init__(self, scope: str | None = None) -> None:
        if scope is not None:
            self.scope = scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def ident_key(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(_SettingsRateThrottle):
    """Login attempts per client IP."""

    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.ident_key(self.get_ident(request))


class LoginAccountThrottle(_SettingsRateThrottle):
    """Login attempts per account name (whether or not the account exists)."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        try:
            data = request.data
            identifier = data.get("email") or data.get("username")
        except Exception:  # noqa: BLE001 - a malformed body is the serializer's problem
            return None
        if not identifier or not isinstance(identifier, str):
            return None
        return self.ident_key(_digest(identifier))


class MfaIPThrottle(_SettingsRateThrottle):
    """MFA code attempts per client IP."""

    scope = "mfa_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.ident_key(self.get_ident(request))


class MfaAccountThrottle(_SettingsRateThrottle):
    """MFA code attempts per user: the bearer's, or the one an ``mfa_token`` names."""

    scope = "mfa"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return self.ident_key(f"user-{user.pk}")
        try:
            raw = request.data.get("mfa_token")
        except Exception:  # noqa: BLE001
            return None
        user_id = mfa_token_user_id(raw) if isinstance(raw, str) else None
        return self.ident_key(f"user-{user_id}") if user_id is not None else None


class RegisterThrottle(_SettingsRateThrottle):
    """Sign-ups per client IP."""

    scope = "register"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.ident_key(self.get_ident(request))


DEFAULT_THROTTLES = list(api_settings.DEFAULT_THROTTLE_CLASSES)
LOGIN_THROTTLES = [*DEFAULT_THROTTLES, LoginIPThrottle, LoginAccountThrottle]
MFA_THROTTLES = [*DEFAULT_THROTTLES, MfaIPThrottle, MfaAccountThrottle]
REGISTER_THROTTLES = [*DEFAULT_THROTTLES, RegisterThrottle]
