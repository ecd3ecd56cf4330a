"""Atomic counters in the shared cache: the one primitive under every throttle and lock-out.

Every rate limit (DRF throttles, the admin login) and every failure lock-out (password, email
code, MFA code) counts through these functions, so "N per window" holds under parallel bursts
and across workers. Each count is one ``cache.add`` (creates the key with its TTL once) plus
one ``cache.incr`` - atomic on Redis (``INCR``) and under LocMemCache's lock - so of N
parallel callers each sees a different number and at most ``limit`` of them are admitted;
a read-modify-write of a list (DRF's ``SimpleRateThrottle``) lets a burst through instead.

All cache access of throttles and lock-outs goes through this module; a policy for a cache
outage belongs here.
"""

import contextlib
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def _redis_window_hit(key: str, *, window: int, now: float) -> int | None:
    """``window_hit`` on Redis in one round trip when the window is open and current.

    The steady state of a throttle (the window exists) took four round trips: read the start,
    ``SET NX``, ``EXISTS`` and ``INCR`` (Django's ``incr``). Here the read, the ``SET NX`` and the
    ``INCR`` go in one ``MULTI``; the ``INCR`` cannot miss the key, which the ``SET NX`` of the
    same transaction guarantees. A new window still records its start (a second round trip,
    once per window); a window that is over by our clock returns None and the general path
    below closes it, exactly as before. None as well when the cache is not Redis.
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    counter = backend.make_and_validate_key(key)
    start_key = backend.make_and_validate_key(f"{key}:start")
    client = backend._cache.get_client(counter, write=True)
    with client.pipeline(transaction=True) as pipe:
        pipe.get(start_key)
        pipe.set(counter, 0, ex=window, nx=True)
        pipe.incr(counter)
        raw_start, created, count = pipe.execute()
    if created:
        cache.set(f"{key}:start", now, timeout=window)
        return int(count)
    start = None if raw_start is None else backend._cache._serializer.loads(raw_start)
    if start is not None and start + window <= now:
        return None  # counted into a window that is over: the general path starts a new one
    return int(count)


def window_hit(key: str, *, window: int) -> int:
    """Count one event in the fixed window of ``key`` (opened by its first event); return
    how many the window holds now, this one included."""
    window = max(1, int(window))
    now = time.time()
    fast = _redis_window_hit(key, window=window, now=now)
    if fast is not None:
        return fast
    start = cache.get(f"{key}:start")
    if start is not None and start + window <= now:
        # Past its end by our clock though the cache still holds it (Redis TTLs are whole
        # seconds on the server's clock): the window is over.
        cache.delete_many([key, f"{key}:start"])
    # The first event opens the window: the counter and its start expire together.
    if cache.add(key, 0, timeout=window):
        cache.set(f"{key}:start", now, timeout=window)
    try:
        return int(cache.incr(key))
    except ValueError:  # the window expired between add() and incr(): open a new one
        cache.add(key, 0, timeout=window)
        cache.set(f"{key}:start", now, timeout=window)
        return int(cache.incr(key))


def window_admit(key: str, *, limit: int, window: int) -> tuple[bool, int]:
    """Take one of the ``limit`` places of the window of ``key``.

    Returns ``(admitted, count)``. A refused event gives its place back, so the counter
    stays the number of admitted events.
    """
    count = window_hit(key, window=window)
    if count > limit:
        window_release(key)
        return False, count - 1
    return True, count


def window_release(key: str) -> None:
    """Give back one place (an event that turned out not to count)."""
    # Expired or cleared in the meantime (ValueError): nothing to give back.
    with contextlib.suppress(ValueError):
        cache.decr(key)


def window_count(key: str) -> int:
    """Events counted in the current window of ``key`` (0 when none is open)."""
    return int(cache.get(key) or 0)


def window_retry_after(key: str, *, window: int) -> int:
    """Seconds until the current window of ``key`` closes (at least 1)."""
    start = cache.get(f"{key}:start")
    if start is None:
        return max(1, int(window))
    return max(1, int(start + window - time.time() + 0.999))


def window_clear(key: str) -> bool:
    """Close the window of ``key``; returns whether one was open."""
    existed = cache.get(key) is not None
    cache.delete_many([key, f"{key}:start"])
    return existed


def flag_set(key: str, *, seconds: int) -> float:
    """Raise a flag for ``seconds`` (a lock, a slow-down); returns when it drops."""
    until = time.time() + max(1, int(seconds))
    cache.set(key, until, timeout=max(1, int(seconds)))
    return until


def flag_take(key: str, *, seconds: int) -> bool:
    """Raise the flag only if it is down (atomic): one caller per ``seconds`` gets True."""
    seconds = max(1, int(seconds))
    now = time.time()
    if cache.add(key, now + seconds, timeout=seconds):
        return True
    until = cache.get(key)
    if until is not None and until > now:
        return False
    # Down by our clock though the cache still holds it (see window_hit): take it over.
    cache.delete(key)
    return bool(cache.add(key, now + seconds, timeout=seconds))


def flag_retry_after(key: str) -> int:
    """Seconds until the flag drops, 0 when it is down."""
    until = cache.get(key)
    if not until:
        return 0
    remaining = until - time.time()
    return max(1, int(remaining + 0.999)) if remaining > 0 else 0


def flag_clear(key: str) -> bool:
    """Drop the flag; returns whether it was up."""
    was_up = flag_retry_after(key) > 0
    cache.delete(key)
    return was_up
