"""Feature flags: named booleans in the database, read through the cache.

``flag_enabled(name)`` is the one way code reads a flag. Values are cached in the shared cache
(Redis when configured, so every worker agrees) and the cache entry is deleted on every change,
so a flip takes effect on the next request everywhere. The current organization's value wins
(``core.tenancy``); without one the platform's row applies, and without that the default.
"""

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from rest_framework.exceptions import ValidationError

from config.cache import cache_invalidate
from core.actor import Actor
from core.tenancy import current_organization_id
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


def _cache_key(name: str, organization_id: Any = None) -> str:
    return f"{_CACHE_PREFIX}{organization_id or '-'}:{name}"


def flag_default(name: str) -> bool:
    """A known flag's default (unknown flags are off unless a row says otherwise)."""
    if name == "registration_open":
        # The REGISTRATION_OPEN setting seeds the default, so existing deployments keep theirs.
        return bool(getattr(settings, "REGISTRATION_OPEN", True))
    return FLAG_DEFAULTS.get(name, (False, ""))[0]


def _stored(name: str, organization_id: Any) -> bool | None:
    """The row's value for one organization (``None``: the platform's), cached; ``None`` when
    there is no row."""
    key = _cache_key(name, organization_id)
    cached = cache.get(key)
    if cached is None:
        row = (
            FeatureFlag.objects.filter(name=name, organization_id=organization_id)
            .values_list("enabled", flat=True)
            .first()
        )
        # Stored as 1/0/-1: a cached False or "no row" must not look like a miss.
        cached = -1 if row is None else int(row)
        cache.set(key, cached, timeout=int(settings.FEATURE_FLAG_CACHE_SECONDS))
    return None if cached == -1 else bool(cached)


def flag_enabled(name: str) -> bool:
    """Whether the flag ``name`` is on in the current organization (its value, else the
    platform's, else the default; cached, and a change invalidates the cache at once)."""
    organization_id = current_organization_id()
    if organization_id is not None:
        value = _stored(name, organization_id)
        if value is not None:
            return value
    value = _stored(name, None)
    return flag_default(name) if value is None else value


def flag_cache_clear(name: str, organization_id: Any = None) -> None:
    cache_invalidate(_cache_key(name, organization_id))


def feature_flag_list(*, organization_id: Any = None) -> list[dict[str, Any]]:
    """Every known flag (defaults included) plus any other stored flag, sorted by name: the
    platform's values, or one organization's (its own rows over the platform's)."""
    platform = {
        f.name: f
        for f in FeatureFlag.objects.filter(organization__isnull=True).select_related("updated_by")
    }
    rows = dict(platform)
    if organization_id is not None:
        rows.update(
            {
                f.name: f
                for f in FeatureFlag.objects.filter(organization_id=organization_id).select_related(
                    "updated_by"
                )
            }
        )
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
    actor: Actor,
    organization_id: Any = None,
) -> bool:
    """Turn ``name`` on or off (audited; ``description``, when given, replaces the note shown
    in the console); returns the new value."""
    feature_flag_name_validate(name)
    with transaction.atomic():
        flag, created = FeatureFlag.objects.select_for_update().get_or_create(
            name=name,
            organization_id=organization_id,
            defaults={
                "enabled": enabled,
                "description": FLAG_DEFAULTS.get(name, (False, ""))[1][:255],
                "updated_by": actor.user if actor.user_id else None,
            },
        )
        previous = flag_default(name) if created else flag.enabled
        previous_description = "" if created else flag.description
        if description is not None:
            flag.description = description[:255]
        if not created or description is not None:
            flag.enabled = enabled
            flag.updated_by = actor.user if actor.user_id else None
            flag.save(update_fields=["enabled", "description", "updated_by", "updated_at"])
        flag_cache_clear(name, organization_id)
    audit_log(
        action="feature_flag_changed",
        actor=actor,
        target=flag,
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


def feature_flag_delete(*, name: str, actor: Actor, organization_id: Any = None) -> None:
    """Remove the stored value of ``name`` (the platform's, or one organization's): it falls
    back to the platform's value or its default; audited."""
    with transaction.atomic():
        deleted, _ = FeatureFlag.objects.filter(name=name, organization_id=organization_id).delete()
        flag_cache_clear(name, organization_id)
    if deleted:
        audit_log(action="feature_flag_deleted", actor=actor, flag=name)
