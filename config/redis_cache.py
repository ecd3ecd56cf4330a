"""Django's Redis cache backend, without building a new Redis client on every call.

Django's ``RedisCacheClient.get_client`` returns ``redis.Redis(connection_pool=pool)`` for each
cache operation; constructing one copies redis-py's ~500 response callbacks into a fresh
case-insensitive dict. A throttled, authenticated request makes several cache calls, and the
profile of ``GET /api/v1/users/me`` showed that construction as the largest Python cost of the
request. The client is a thin, thread-safe wrapper over the connection pool (which Django
already keeps per server), so one client per pool is kept and reused; connections, timeouts and
retries are the pool's, exactly as before.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            # A race between threads builds two clients over the same pool: harmless.
            pool = self._get_connection_pool(write)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with a reused client per pool."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
