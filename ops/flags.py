"""Feature flags: named booleans in the database, read through the cache.

``flag_enabled(name)`` is the one way code reads a flag. Values are cached in the shared cache
(Redis when configured, so every worker agrees) and the cache entry is deleted on every change,
so a flip takes effect on the next request everywhere. A flag with no row yet has its default.
"""

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from rest_framework.exceptions import ValidationError

from config.cache import cache_invalidate
from ops.audit import audit_log
from ops.models import FeatureFlag

# The flags the code reads, their defaults and what they switch.
FLAG_DEFAULTS: dict[str, tuple[bool, str]] = {
    "registration_open": (True, "Anyone may sign up through POST /api/v1/auth/register."),
    "streaming_enabled": (
        True,
        "Answers stream over the WebSocket; when off the socket answers with an error frame "
        "(STREAMING_DISABLED) telling the client to use the REST endpoint.",
    ),
    "rag_enabled": (True, "Chat answers are grounded in the user's documents (retrieval)."),
    "offline_provider_allowed": (
        True,
        "The offline (no credentials) model provider may answer; when off, chat through it "
        "fails with AI_PROVIDER_ERROR (kind provider_disabled).",
    ),
}

_CACHE_PREFIX = "flag:"


def _cache_key(name: str) -> str:
    return f"{_CACHE_PREFIX}{name}"


def flag_default(name: str) -> bool:
    """A known flag's default (unknown flags are off unless a row says otherwise)."""
    if name == "registration_open":
        # The REGISTRATION_OPEN setting seeds the default, so existing deployments keep theirs.
        return bool(getattr(settings, "REGISTRATION_OPEN", True))
    return FLAG_DEFAULTS.get(name, (False, ""))[0]


def flag_enabled(name: str) -> bool:
    """Whether the flag ``name`` is on (cached; a change invalidates the cache at once)."""
    cached = cache.get(_cache_key(name))
    if cached is not None:
        return bool(cached)
    row = FeatureFlag.objects.filter(name=name).values_list("enabled", flat=True).first()
    value = flag_default(name) if row is None else bool(row)
    # Stored as 1/0: a cached False must not look like a miss.
    cache.set(_cache_key(name), int(value), timeout=int(settings.FEATURE_FLAG_CACHE_SECONDS))
    return value


def flag_cache_clear(name: str) -> None:
    cache_invalidate(_cache_key(name))


def feature_flag_list() -> list[dict[str, Any]]:
    """Every known flag (defaults included) plus any other stored flag, sorted by name."""
    rows = {f.name: f for f in FeatureFlag.objects.select_related("updated_by")}
    names = sorted(set(FLAG_DEFAULTS) | set(rows))
    result = []
    for name in names:
        row = rows.get(name)
        result.append(
            {
                "name": name,
                "enabled": row.enabled if row is not None else flag_default(name),
                "default": flag_default(name),
                "description": (row.description if row and row.description else "")
                or FLAG_DEFAULTS.get(name, (False, ""))[1],
                "updated_at": row.updated_at if row is not None else None,
                "updated_by": row.updated_by.email if row and row.updated_by else None,
            }
        )
    return result


def feature_flag_name_validate(name: str) -> str:
    """``name`` if the code reads a flag of that name, else a 400 listing the known flags.

    The one check of every door (API, console, commands): a misspelled flag would be stored,
    shown as set, and never read - the feature would silently keep its default.
    """
    if name not in FLAG_DEFAULTS:
        known = ", ".join(sorted(FLAG_DEFAULTS))
        raise ValidationError(
            {"name": [f'"{name}" is not a feature flag the code reads. Known flags: {known}.']},
            code="UNKNOWN_FEATURE_FLAG",
        )
    return name


def feature_flag_set(
    *,
    name: str,
    enabled: bool,
    description: str | None = None,
    actor: Any = None,
    request: Any = None,
) -> bool:
    """Turn ``name`` on or off (audited; ``description``, when given, replaces the note shown
    in the console); returns the new value."""
    feature_flag_name_validate(name)
    with transaction.atomic():
        flag, created = FeatureFlag.objects.select_for_update().get_or_create(
            name=name,
            defaults={
                "enabled": enabled,
                "description": FLAG_DEFAULTS.get(name, (False, ""))[1][:255],
                "updated_by": actor if getattr(actor, "pk", None) else None,
            },
        )
        previous = flag_default(name) if created else flag.enabled
        previous_description = "" if created else flag.description
        if description is not None:
            flag.description = description[:255]
        if not created or description is not None:
            flag.enabled = enabled
            flag.updated_by = actor if getattr(actor, "pk", None) else None
            flag.save(update_fields=["enabled", "description", "updated_by", "updated_at"])
        flag_cache_clear(name)
    audit_log(
        action="feature_flag_changed",
        actor=actor,
        target=flag,
        request=request,
        flag=name,
        old=previous,
        new=enabled,
        **(
            {"description": flag.description}
            if description is not None and flag.description != previous_description
            else {}
        ),
    )
    return enabled


def feature_flag_delete(*, name: str, actor: Any = None, request: Any = None) -> None:
    """Remove the stored value of ``name`` (it falls back to its default); audited."""
    with transaction.atomic():
        deleted, _ = FeatureFlag.objects.filter(name=name).delete()
        flag_cache_clear(name)
    if deleted:
        audit_log(action="feature_flag_deleted", actor=actor, request=request, flag=name)
