"""``{% admin_stats as stats %}`` for the dashboard on the admin index."""

from typing import Any

from django import template
from django.core.cache import cache

from ai.selectors import admin_stats

register = template.Library()

# The index is the admin's landing page: a minute-old count is fine, a full scan per view is not.
_CACHE_KEY = "admin:dashboard:stats"
_CACHE_SECONDS = 60


@register.simple_tag
def dashboard_stats() -> dict[str, Any]:
    stats = cache.get(_CACHE_KEY)
    if stats is None:
        stats = admin_stats()
        cache.set(_CACHE_KEY, stats, timeout=_CACHE_SECONDS)
    return stats
