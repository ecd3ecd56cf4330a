"""Brute-force protection for login, MFA and registration.

Two layers, both in the Django cache (Redis when ``REDIS_URL`` is set, so every worker agrees):

* scoped DRF rate throttles, per account and per client IP (rates in
  ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``: ``login``, ``login_ip``, ``mfa``, ``mfa_ip``,
  ``register``), counting every attempt;
* a lock-out that counts only *failures*: after ``LOGIN_LOCKOUT_THRESHOLD`` failures of one
  account or one IP within ``LOGIN_LOCKOUT_SECONDS``, that account or IP is refused for
  ``LOGIN_LOCKOUT_SECONDS`` (429 with ``Retry-After``), even with the right password.
"""

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from config.exceptions import RateLimitedError
from config.outage import CacheOutageThrottleMixin


def _digest(value: str) -> str:
    # Cache keys never carry an email address in clear.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


# --- The index of blocked throttle keys (for GET /api/v1/admin/rate-limits) ---------------
# The cache has no "list keys" that works on both locmem and Redis, so every throttle that
# refuses a request records its key here: one small dict under one key, entries dropped once
# their window has passed. A lost update under a race only hides an entry from the listing;
# the throttle itself is unaffected.
THROTTLE_INDEX_KEY = "throttle:index"
_THROTTLE_INDEX_MAX = 1000


def throttle_index_record(*, key: str, scope: str, ident: str, window: int) -> None:
    """Remember that ``key`` (scope + ident) is refusing requests until its window passes."""
    now = time.time()
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    index = {k: v for k, v in index.items() if v["until"] > now}
    index[key] = {"scope": scope, "ident": ident, "until": now + window}
    if len(index) > _THROTTLE_INDEX_MAX:
        newest = sorted(index.items(), key=lambda item: item[1]["until"])[-_THROTTLE_INDEX_MAX:]
        index = dict(newest)
    cache.set(THROTTLE_INDEX_KEY, index, timeout=max(window, 3600))


def throttle_index_entries() -> list[dict[str, Any]]:
    """Blocked keys whose window has not passed, with the requests counted in it."""
    now = time.time()
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    entries = []
    for key, meta in index.items():
        if meta["until"] <= now:
            continue
        history = cache.get(key) or []
        if not history:
            continue  # unblocked, or the window passed
        entries.append({"key": key, **meta, "count": len(history)})
    return sorted(entries, key=lambda e: (e["scope"], e["ident"]))


def throttle_unblock(
    *, user_id: int | None = None, email: str | None = None, ip: str | None = None
) -> int:
    """Clear every throttle counter (and lock-out) of a user or an IP; returns how many."""
    wanted: set[str] = set()
    if user_id is not None:
        wanted |= {str(user_id), f"user-{user_id}"}
    if email:
        wanted.add(_digest(email))
        for suffix in (":until", ":failures"):
            cache.delete(f"lockout:account:{_digest(email)}{suffix}")
    if ip:
        wanted.add(ip)
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    cleared = 0
    for key, meta in list(index.items()):
        if meta["ident"] in wanted:
            cache.delete(key)
            index.pop(key)
            cleared += 1
    cache.set(THROTTLE_INDEX_KEY, index, timeout=3600)
    if ip:
        # A failed-login lock-out of the IP is lifted too.
        for suffix in (":until", ":failures"):
            if cache.get(f"lockout:ip:{ip}{suffix}") is not None:
                cache.delete(f"lockout:ip:{ip}{suffix}")
                cleared += suffix == ":until"
    return cleared


class IndexedThrottleMixin(CacheOutageThrottleMixin):
    """Records a refused key in the throttle index so admins can list and unblock it.

    Every throttle of the project derives from it, so each one fails safe when the cache
    (Redis) is down: reads pass, writes answer 503 (``config.outage``)."""

    def throttle_failure(self) -> bool:  # type: ignore[override]
        key = getattr(self, "key", None)
        if key:
            prefix = self.cache_format % {"scope": self.scope, "ident": ""}  # type: ignore[attr-defined]
            throttle_index_record(
                key=key,
                scope=self.scope,  # type: ignore[attr-defined]
                ident=key.removeprefix(prefix),
                window=int(self.duration),  # type: ignore[attr-defined]
            )
        return False


class IndexedAnonRateThrottle(IndexedThrottleMixin, AnonRateThrottle):
    """DRF's per-IP throttle for anonymous requests (scope ``anon``), indexed."""


class IndexedUserRateThrottle(IndexedThrottleMixin, UserRateThrottle):
    """DRF's per-user throttle (scope ``user``), indexed."""


class ScopedUserThrottle(IndexedThrottleMixin, UserRateThrottle):
    """A per-user throttle whose rate is read from settings by ``scope`` on every request."""

    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


class ChatMessageThrottle(ScopedUserThrottle):
    """Chat messages sent through REST, per user (scope ``chat_message``)."""

    scope = "chat_message"


class _SettingsRateThrottle(IndexedThrottleMixin, SimpleRateThrottle):
    """Reads its rate from settings on each request, so operators and tests can change it."""

    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def __init__(self) -> None:
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
        from accounts.tokens import mfa_token_user_id

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


# --- Lock-out after repeated failures ------------------------------------------------------


def _lock_keys(*, account: str | None, ip: str | None) -> list[tuple[str, str]]:
    keys = []
    if account:
        keys.append(("account", f"lockout:account:{_digest(account)}"))
    if ip:
        keys.append(("ip", f"lockout:ip:{ip}"))
    return keys


def lockout_check(*, account: str | None, ip: str | None) -> None:
    """Raise a 429 ``LOCKED_OUT`` error while the account or the IP is locked."""
    now = time.time()
    for _kind, key in _lock_keys(account=account, ip=ip):
        # The value is the unlock time; comparing it (not only the TTL) keeps the rule exact.
        until = cache.get(f"{key}:until")
        if until and until > now:
            retry_after = max(1, math.ceil(until - now))
            raise RateLimitedError(
                f"Too many failed attempts. Try again in {retry_after} seconds.",
                code="LOCKED_OUT",
                details={"retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )


def lockout_record_failure(*, account: str | None, ip: str | None) -> bool:
    """Count one failure for the account and the IP; lock whichever reaches the threshold.

    Returns whether something got locked by this failure.
    """
    threshold = int(settings.LOGIN_LOCKOUT_THRESHOLD)
    window = int(settings.LOGIN_LOCKOUT_SECONDS)
    locked = False
    for _kind, key in _lock_keys(account=account, ip=ip):
        counter = f"{key}:failures"
        # add() then incr() is atomic on Redis and under locmem's lock: parallel failures all count.
        cache.add(counter, 0, timeout=window)
        try:
            failures = cache.incr(counter)
        except ValueError:  # expired between add() and incr()
            cache.set(counter, 1, timeout=window)
            failures = 1
        if failures >= threshold:
            cache.set(f"{key}:until", time.time() + window, timeout=window)
            cache.delete(counter)
            locked = True
    return locked


def lockout_reset(*, account: str | None) -> None:
    """A successful login clears the account's failure count (not the IP's)."""
    for _kind, key in _lock_keys(account=account, ip=None):
        cache.delete(f"{key}:failures")
