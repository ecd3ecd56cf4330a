"""The index of the keys a throttle or a lock-out is refusing, for the rate-limit admin.

Below both :mod:`accounts.throttles` and :mod:`accounts.lockout`, which record into it;
``accounts.throttles.throttle_unblock`` lifts what it lists.
"""

import hashlib
import time
from typing import Any

from django.core.cache import cache

from accounts import counters


def _digest(value: str) -> str:
    # Cache keys never carry an email address in clear.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


# --- The index of blocked keys (for GET /api/v1/admin/rate-limits) --------------------------
# The cache has no "list keys" that works on both locmem and Redis, so every throttle that
# refuses a request (and every lock-out) records its key here: one small dict under one key,
# entries dropped once their window has passed. A lost update under a race only hides an
# entry from the listing; the throttle itself is unaffected.
THROTTLE_INDEX_KEY = "throttle:index"
# Keys of accounts.lockout (listed here too, lifted by lockout_clear).
LOCKOUT_KEY_PREFIX = "lockout:"
_THROTTLE_INDEX_MAX = 1000


def throttle_index_record(
    *, key: str, scope: str, ident: str, window: int, lock: bool = False, count: int = 0
) -> None:
    """Remember that ``key`` (scope + ident) is refusing requests until its window passes.

    ``lock`` marks a lock-out flag (listed while it is up, with ``count``); otherwise ``key``
    is a counter, listed with its current count.
    """
    now = time.time()
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    index = {k: v for k, v in index.items() if v["until"] > now}
    index[key] = {"scope": scope, "ident": ident, "until": now + window, "lock": lock}
    if lock:
        index[key]["count"] = count
    if len(index) > _THROTTLE_INDEX_MAX:
        newest = sorted(index.items(), key=lambda item: item[1]["until"])[-_THROTTLE_INDEX_MAX:]
        index = dict(newest)
    cache.set(THROTTLE_INDEX_KEY, index, timeout=max(window, 3600))


def throttle_index_entries() -> list[dict[str, Any]]:
    """Blocked keys whose window has not passed, with the requests (or failures) counted."""
    now = time.time()
    index = cache.get(THROTTLE_INDEX_KEY) or {}
    entries = []
    for key, meta in index.items():
        if meta["until"] <= now:
            continue
        if meta.get("lock"):
            if not counters.flag_retry_after(key):
                continue  # unblocked, or the lock ended
            count = int(meta.get("count", 0))
        else:
            count = counters.window_count(key)
            if not count:
                continue  # unblocked, or the window passed
        entry = {k: v for k, v in meta.items() if k in ("scope", "ident", "until")}
        entries.append({"key": key, **entry, "count": count})
    return sorted(entries, key=lambda e: (e["scope"], e["ident"]))
