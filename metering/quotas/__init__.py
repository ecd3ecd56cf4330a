"""Token quotas: the user's own budgets, and inside an organization its budget and the
limit of each member, all held by one reservation before every model call.

A user's limits come from their ``Quota`` override, field by field, else ``QUOTA_DEFAULTS``
of their role; an organization's from its ``OrganizationQuota`` (null = no limit; written by
its admins and by billing). Both are cached; saving or deleting a row clears the cache.
Before a model call the estimated tokens (prompt + the ``AI_MAX_TOKENS`` cap on the answer)
are *reserved* on every counter of the call (``reservations``: the user's day and month, the
member's, the organization's, always in that order):

- the fast path is one conditional ``UPDATE`` per counter that adds the estimate only where
  ``used + reserved + estimate <= limit`` holds; the database checks and increments under the
  row lock, so parallel requests on any number of workers can never overrun a budget. Under
  the user's day-row lock every reservation of the user is serialised, so the count of active
  reservations that enforces ``max_concurrent`` is exact. It runs in a savepoint: when one
  counter is missing or full, rolling back gives back the rest and releases their locks;
- then the slow path expires the user's stale reservations in that organization, creates the
  missing rows, locks them all (``SELECT ... FOR UPDATE``, same order), checks again and says
  precisely which limit refused: 429 ``QUOTA_EXCEEDED`` with ``details.scope`` (``user``,
  ``member``, ``organization``), ``details.period`` (``day``, ``month``) and ``Retry-After``.

After the call the reservation is *settled* with the real count (cancelled and incomplete
answers are charged for what was produced) or *released* when the call failed, on the same
counters. A reservation whose process died is expired after ``QUOTA_RESERVATION_TTL``
seconds (by the periodic sweep, or by the user's next refused reservation).

Document embeddings are metered (``UsageRecord`` kind ``embedding``, shown by the usage
endpoints) but are not charged to these budgets: ingestion is bounded by the upload throttle and
the document size and count limits instead, and a user's uploaded document must not fail half
way because a chat used the day's budget.
"""

from metering.quotas.limits import (
    ORGANIZATION_QUOTA_FIELDS,
    QUOTA_FIELDS,
    OrganizationLimits,
    QuotaExceededError,
    QuotaLimits,
    organization_limits_for,
    period_starts,
    quota_limits_for,
    quota_resets,
)
from metering.quotas.overrides import (
    organization_quota_get,
    organization_quota_set,
    organization_quota_validate,
    quota_override_get,
    quota_override_set,
)
from metering.quotas.reservations import (
    quota_release,
    quota_reservations_expire,
    quota_reserve,
    quota_settle,
)
from metering.quotas.status import organization_quota_status, quota_status

__all__ = [
    "ORGANIZATION_QUOTA_FIELDS",
    "QUOTA_FIELDS",
    "OrganizationLimits",
    "QuotaExceededError",
    "QuotaLimits",
    "organization_limits_for",
    "organization_quota_get",
    "organization_quota_set",
    "organization_quota_status",
    "organization_quota_validate",
    "period_starts",
    "quota_limits_for",
    "quota_override_get",
    "quota_override_set",
    "quota_release",
    "quota_reservations_expire",
    "quota_reserve",
    "quota_resets",
    "quota_settle",
    "quota_status",
]
