"""The platform statistics of the admin API and the console dashboard (reads only).

Each app contributes the figures of what it owns with ``platform_stats_register`` from its
``AppConfig.ready`` (users from accounts, tokens from metering, documents, chat sessions and
messages), so this app, below them all in the import order, imports none of them.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from core.tenancy import platform_code

# A contributor receives the moment the report is made and returns its top-level keys.
StatsContributor = Callable[[dt.datetime], dict[str, Any]]
_contributors: dict[str, StatsContributor] = {}


def platform_stats_register(name: str, contributor: StatsContributor) -> None:
    """Add (or, under the same name, replace) an app's part of ``admin_stats``."""
    _contributors[name] = contributor


@platform_code
def admin_stats() -> dict[str, Any]:
    """Users by role and state, activity, sessions, messages, documents, tokens, top users."""
    now = timezone.now()
    stats: dict[str, Any] = {"generated_at": now}
    for contributor in _contributors.values():
        stats.update(contributor(now))
    return stats
