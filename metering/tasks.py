"""Celery tasks of metering: the periodic release of stale quota reservations.

The task keeps its name from before the ``ai`` app was carved (``ai.quota_reservations_expire``):
beat schedules and messages already queued under it keep working.
"""

from celery import shared_task

from metering.quotas import quota_reservations_expire


@shared_task(name="ai.quota_reservations_expire", ignore_result=True)
def quota_reservations_expire_task() -> int:
    """Periodic: release quota reservations older than ``QUOTA_RESERVATION_TTL``."""
    return quota_reservations_expire()
