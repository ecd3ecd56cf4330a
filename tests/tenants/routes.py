"""Every (route, method) the project serves, read from Django's URL resolver.

The isolation walk and the role matrix require a case for each pair this returns, so a new
endpoint without a case fails them by name. Routes that serve no organization's data are
excluded here by name, each with the reason."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# Route names (namespace-qualified) that are not part of the walk, and why.
EXCLUDED_ROUTES = {
    "schema": "the OpenAPI document: public, describes routes, holds no row of any organization",
    "swagger-ui": "the docs page around the schema: public, static",
    "redoc": "the docs page around the schema: public, static",
    "api-not-found": "the catch-all 404 envelope of unknown /api/ paths: reads nothing",
    "health": "liveness probe: public, answers ok/not ok about the process, no data",
    "healthz": "alias of health",
    "health-detailed": "readiness probe: dependency states only, no organization's rows",
    "metrics": "Prometheus text for the operator (token-protected), aggregate counters only",
    "favicon": "a static icon",
    "moved-admin-page": "a redirect of old console URLs to their new place",
    "chat-page": "the HTML shell of the chat page: static markup, it reads data through the API",
}
# Namespaces excluded as a whole.
EXCLUDED_NAMESPACES = {
    "admin": "the Django admin console: platform administrators only, every page in the "
    "platform scope (tests/accounts/test_admin_console.py and the console tests)",
}


@dataclass(frozen=True)
class Route:
    name: str  # namespace-qualified, e.g. ``api:chat-session-list``
    pattern: str  # the full pattern, for messages
    methods: tuple[str, ...]  # upper-case HTTP methods the view answers


def _methods(pattern: URLPattern) -> tuple[str, ...]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:  # a viewset route: only the methods bound to actions
        # DRF adds ``head`` to this dict on the first GET it serves (a HEAD is that GET).
        return tuple(sorted(m.upper() for m in actions if m in HTTP_METHODS))
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        # A plain function view: it must be excluded by name, or described by a case
        # under the pseudo-method ANY.
        return ("ANY",)
    allowed = [m for m in view_class.http_method_names if m in HTTP_METHODS]
    return tuple(sorted(m.upper() for m in allowed if hasattr(view_class, m)))


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str, namespace: str
) -> Iterator[tuple[str, str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            name = entry.name or f"<unnamed {prefix}{entry.pattern}>"
            full = f"{namespace}:{name}" if namespace else name
            yield full, prefix + str(entry.pattern), entry


def all_routes() -> list[Route]:
    """Every named route of ``ROOT_URLCONF`` (excluded ones included)."""
    return [
        Route(name=name, pattern=pattern, methods=_methods(entry))
        for name, pattern, entry in _walk(get_resolver().url_patterns, "/", "")
    ]


def is_excluded(route: Route) -> bool:
    namespace = route.name.split(":", 1)[0] if ":" in route.name else ""
    return route.name in EXCLUDED_ROUTES or namespace in EXCLUDED_NAMESPACES


def walked_pairs() -> set[tuple[str, str]]:
    """``(route name, METHOD)`` of every route the walk must cover."""
    return {
        (route.name, method)
        for route in all_routes()
        if not is_excluded(route)
        for method in route.methods
    }


def pattern_of(name: str) -> str:
    return next((r.pattern for r in all_routes() if r.name == name), "?")
