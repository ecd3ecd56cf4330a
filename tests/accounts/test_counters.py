"""The cache counters under every throttle and lock-out, on the configured cache (LocMem in the
embedded run, Redis in the PostgreSQL+Redis run, where ``window_hit`` takes its one-round-trip
path)."""

import time

import pytest
from django.core.cache import caches

from accounts import counters
from config.redis_cache import SharedPoolRedisCache


def test_window_admits_up_to_the_limit_then_refuses():
    key = "test:counters:limit"
    results = [counters.window_admit(key, limit=3, window=60) for _ in range(5)]
    assert results == [(True, 1), (True, 2), (True, 3), (False, 3), (False, 3)]
    assert counters.window_count(key) == 3
    assert 1 <= counters.window_retry_after(key, window=60) <= 60


def test_a_window_over_by_our_clock_starts_a_new_one(time_machine):
    key = "test:counters:expiry"
    time_machine.move_to(time.time(), tick=False)
    assert [counters.window_hit(key, window=60) for _ in range(3)] == [1, 2, 3]
    # The cache may still hold the counter (Redis TTLs run on its own clock); ours says over.
    time_machine.shift(61)
    assert counters.window_hit(key, window=60) == 1
    assert counters.window_hit(key, window=60) == 2


def test_redis_client_is_built_once_per_pool():
    backend = caches["default"]
    if not isinstance(backend, SharedPoolRedisCache):
        pytest.skip("the embedded run's cache is LocMem")
    assert backend._cache.get_client("a", write=True) is backend._cache.get_client("b", write=True)
    backend.set("test:counters:client", 5)
    assert backend.incr("test:counters:client") == 6
