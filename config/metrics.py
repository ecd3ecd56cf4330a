"""Prometheus metrics of the HTTP layer and the AI path, and the ``/metrics`` view.

With several processes set ``PROMETHEUS_MULTIPROC_DIR`` so every worker writes its samples to a
shared folder; the view then aggregates them.
"""

import ipaddress
import os
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from config.exceptions import json_error_response

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _client_is_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; loopback clients, or ``Authorization: Bearer <METRICS_TOKEN>``."""
    token = settings.METRICS_TOKEN
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = _client_is_loopback(request) or (
        bool(token) and secrets.compare_digest(supplied.encode(), token.encode())
    )
    if not allowed:
        return json_error_response(request, 403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
