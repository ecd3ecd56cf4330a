"""Liveness (``/health``) and readiness (``/health/detailed``) endpoints, and the registry of
readiness checks.

This module sits at the bottom of the import order: it imports no app. The platform's own
dependencies (database, cache, channel layer) are checked here; an app adds the checks of what
it integrates (the vector store, the model provider) with ``health_check_register`` from its
``AppConfig.ready``.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

import config

STARTED_AT = time.time()
CHECK_TIMEOUT_SECONDS = 3.0


def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Never touches a dependency."""
    return JsonResponse(
        {
            "status": "ok",
            "version": config.__version__,
            "uptime_seconds": round(time.time() - STARTED_AT, 1),
        }
    )


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"backend": connection.vendor}


def _check_cache() -> dict[str, Any]:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value it stored")
    cache.delete(key)
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


async def _check_channel_layer() -> dict[str, Any]:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned an unexpected message")
    return {"backend": type(layer).__name__}


HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
# name -> check, in registration order (the order of ``checks`` in the response).
_registered_checks: dict[str, HealthCheck] = {}


def health_check_register(name: str, check: HealthCheck) -> None:
    """Add a readiness check: an async callable returning details, raising when down. Called
    from an app's ``ready``; registering a name again replaces the check."""
    _registered_checks[name] = check


async def _run(name: str, check: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[str, dict]:
    started = time.perf_counter()
    try:
        info = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
        result = {"status": "up", **info}
    except TimeoutError:
        result = {"status": "down", "error": "timed out"}
    except Exception as exc:  # noqa: BLE001 - a failing dependency is reported, not raised
        result = {"status": "down", "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return name, result


async def health_detailed(request: HttpRequest) -> JsonResponse:
    """Readiness: each dependency with status and latency; 503 naming the failing parts."""
    checks: dict[str, HealthCheck] = {
        "database": sync_to_async(_check_database, thread_sensitive=True),
        "cache": sync_to_async(_check_cache, thread_sensitive=False),
        "channel_layer": _check_channel_layer,
        **_registered_checks,
    }
    results = dict(await asyncio.gather(*(_run(name, fn) for name, fn in checks.items())))
    failing = sorted(name for name, result in results.items() if result["status"] != "up")
    body = {
        "status": "ok" if not failing else "degraded",
        "version": config.__version__,
        "uptime_seconds": round(time.time() - STARTED_AT, 1),
        "checks": results,
        "failing": failing,
    }
    return JsonResponse(body, status=503 if failing else 200)
