"""``{% admin_stats as stats %}`` for the dashboard on the admin index."""

from typing import Any

from django import template
from django.core.cache import cache

from config.exceptions import BACKEND_OUTAGE_ERRORS
from ops.selectors import admin_stats

register = template.Library()

# The index is the admin's landing page: a minute-old count is fine, a full scan per view is not.
_CACHE_KEY = "admin:dashboard:stats"
_CACHE_SECONDS = 60


@register.simple_tag
def dashboard_stats() -> dict[str, Any]:
    try:
        stats = cache.get(_CACHE_KEY)
    except BACKEND_OUTAGE_ERRORS:
        # Redis is down: the console still opens, counting straight from the database.
        return admin_stats()
    if stats is None:
        stats = admin_stats()
        cache.set(_CACHE_KEY, stats, timeout=_CACHE_SECONDS)
    return stats
