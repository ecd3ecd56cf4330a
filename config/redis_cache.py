"""Django's Redis cache with one connection pool per process, not one per request context.

Django keeps a cache object per asyncio context (``caches`` is an asgiref ``Local``), and its
``RedisCache`` builds a connection pool per object: under an ASGI server every WebSocket and
every request opened its own pool and its own TCP connection to Redis (measured: 40 tasks, 40
pools). Connections then grew with the number of open sockets (the "Redis ran out of
connections" of a 300-stream run) and each new context paid a connect. Here every cache object
of the process shares one pool per server and options, so ``max_connections`` bounds the
process (``REDIS_CACHE_MAX_CONNECTIONS``; a ``BlockingConnectionPool`` waits
``REDIS_CACHE_POOL_TIMEOUT`` seconds for a free connection, then raises the ``ConnectionError``
that the doors answer as 503 ``SERVICE_UNAVAILABLE``). redis-py pools reset themselves in a
forked child (Celery's prefork workers).
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_POOLS: dict[tuple, Any] = {}
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


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
