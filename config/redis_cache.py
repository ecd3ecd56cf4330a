"""Django's Redis cache with one connection pool and one client per process.

Two costs of Django's ``RedisCache`` showed in the profiles:

- **A pool per request context.** Django keeps a cache object per asyncio context (``caches`` is
  an asgiref ``Local``) and its ``RedisCache`` builds a connection pool per object: under an ASGI
  server every WebSocket and every request opened its own pool and its own TCP connection to
  Redis (measured: 40 tasks, 40 pools). Connections then grew with the number of open sockets
  (the "Redis ran out of connections" of a 300-stream run) and each new context paid a connect.
  Here every cache object of the process shares one pool per server and options, so
  ``max_connections`` bounds the process (``REDIS_CACHE_MAX_CONNECTIONS``; a
  ``BlockingConnectionPool`` waits ``REDIS_CACHE_POOL_TIMEOUT`` seconds for a free connection,
  then raises the ``ConnectionError`` that the doors answer as 503 ``SERVICE_UNAVAILABLE``).
  redis-py pools reset themselves in a forked child (Celery's prefork workers).
- **A client per call.** ``RedisCacheClient.get_client`` returns
  ``redis.Redis(connection_pool=pool)`` for each cache operation; constructing one copies
  redis-py's ~500 response callbacks into a fresh dict, the largest Python cost of
  ``GET /api/v1/users/me`` in its profile. The client is a thin, thread-safe wrapper over the
  pool, so one client per shared pool is kept and reused.
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_POOLS: dict[tuple, Any] = {}
_CLIENTS: dict[int, Any] = {}
_LOCK = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        key = (
            self._servers[index],
            self._pool_class,
            tuple(sorted((k, repr(v)) for k, v in self._pool_options.items())),
        )
        pool = _POOLS.get(key)
        if pool is None:
            with _LOCK:
                pool = _POOLS.get(key)
                if pool is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    _POOLS[key] = pool
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _CLIENTS.get(id(pool))
        if client is None:
            # A race between threads builds two clients over the same pool: harmless.
            client = _CLIENTS[id(pool)] = self._client(connection_pool=pool)
        return client


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
