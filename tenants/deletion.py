"""Deleting an organization: the organization closes at once, a resumable job erases it.

``organization_delete_request`` (its owner or a platform administrator) sets the organization
``deleting`` - from that moment no request, socket or API key can act in it (the resolution
answers 404) - and queues an :class:`tenants.models.OrganizationDeletion` job.
``organization_deletion_run`` erases part by part in small batches, each its own transaction,
touching the job's heartbeat after each: the apps' parts first (documents with their files
and vectors, chats), then API keys, invitations and memberships, then the organization row
(what is left cascades with it: quotas, flags, generations). Usage records and audit events
stay (their organization column has no constraint and keeps the id), for accounting.

A job whose worker died is claimed again by ``organization_deletions_resume`` (periodic
maintenance, and every Celery worker's start), so a crash only delays it. The parts come from
the apps that own the data (:func:`organization_data_part_register`, from their
``AppConfig.ready``), so this module imports no app above ``tenants``.

Where the job runs (``ORGANIZATION_DELETION_RUNNER``): a Celery worker, a thread of the server
(embedded mode: the embedded vector store lives in the server process), or the caller.
"""

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey
from config.exceptions import ApplicationError, PermissionDeniedError
from core.actor import Actor
from core.policies import is_admin
from core.tenancy import organization_scope, platform_code
from ops.audit import audit_log
from tenants.models import (
    Invitation,
    MemberRole,
    Membership,
    MembershipStatus,
    Organization,
    OrganizationDeletion,
    OrganizationDeletionStatus,
    OrganizationStatus,
)

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OrganizationDataPart:
    """One kind of data an organization holds, as the app that owns it knows it.

    ``erase(organization_id, limit)`` removes at most ``limit`` units in one transaction and
    returns how many: 0 means the part is done. It must be idempotent (a resumed job calls it
    again) and remove what lives outside the database (files, vectors) before the rows, so a
    crash between the two leaves rows to find again, never unreachable files."""

    key: str
    order: int
    erase: Callable[[uuid.UUID, int], int]
    batch: int = 100


_parts: dict[str, OrganizationDataPart] = {}


def organization_data_part_register(part: OrganizationDataPart) -> None:
    """Called by each app that owns organization data (in ``ready()``); re-registering
    replaces."""
    _parts[part.key] = part


def _erase_rows(queryset: Any, limit: int) -> int:
    ids = list(queryset.values_list("pk", flat=True)[:limit])
    if ids:
        queryset.model._base_manager.filter(pk__in=ids).delete()
    return len(ids)


def _api_keys_erase(organization_id: uuid.UUID, limit: int) -> int:
    return _erase_rows(ApiKey.objects.filter(organization_id=organization_id), limit)


def _invitations_erase(organization_id: uuid.UUID, limit: int) -> int:
    return _erase_rows(Invitation.objects.filter(organization_id=organization_id), limit)


def _memberships_erase(organization_id: uuid.UUID, limit: int) -> int:
    # Each deletion clears the member's cached memberships (tenants.signals).
    return _erase_rows(Membership.objects.filter(organization_id=organization_id), limit)


# This app's own parts, after the apps' data (their rows name members and keys).
for _part in (
    OrganizationDataPart(key="api_keys", order=80, erase=_api_keys_erase),
    OrganizationDataPart(key="invitations", order=85, erase=_invitations_erase),
    OrganizationDataPart(key="memberships", order=90, erase=_memberships_erase),
):
    organization_data_part_register(_part)


def organization_data_parts() -> list[OrganizationDataPart]:
    return sorted(_parts.values(), key=lambda part: (part.order, part.key))


# --- Request ------------------------------------------------------------------------------------


def organization_deletion_check(*, actor: Actor, organization: Organization) -> None:
    """Raise unless ``actor`` may delete ``organization``: its owner, a platform
    administrator, or the platform itself (an operator's command)."""
    if actor.system or is_admin(actor):
        return
    is_owner = (
        actor.user_id is not None
        and Membership.objects.filter(
            organization=organization,
            user_id=actor.user_id,
            role=MemberRole.OWNER,
            status=MembershipStatus.ACTIVE,
        ).exists()
    )
    if not is_owner:
        raise PermissionDeniedError("Only an owner of the organization may delete it.")


def organization_deletion_open(*, organization: Organization) -> OrganizationDeletion | None:
    return OrganizationDeletion.objects.filter(
        organization_key=organization.pk,
        status__in=[OrganizationDeletionStatus.PENDING, OrganizationDeletionStatus.RUNNING],
    ).first()


def organization_delete_request(
    *, actor: Actor, organization: Organization, dispatch: bool = True
) -> OrganizationDeletion:
    """Close ``organization`` now (status ``deleting``) and queue the erasure of its data;
    returns the job (asking again while one is open returns it). Audited.
    ``dispatch=False``: the caller runs the job (``manage.py delete_organization``)."""
    organization_deletion_check(actor=actor, organization=organization)
    existing = organization_deletion_open(organization=organization)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            locked = Organization.objects.select_for_update().get(pk=organization.pk)
            # Saved (not updated): the signal clears every member's cached memberships, so
            # the organization is refused on every worker from the next request.
            locked.status = OrganizationStatus.DELETING
            locked.save(update_fields=["status"])
            job = OrganizationDeletion.objects.create(
                organization=locked,
                organization_key=locked.pk,
                organization_label=f"{locked.name} ({locked.slug})",
                requested_by=actor.user if actor.user_id else None,
            )
    except IntegrityError:  # a parallel request queued it first
        existing = organization_deletion_open(organization=organization)
        if existing is None:
            raise
        return existing
    organization.status = OrganizationStatus.DELETING
    audit_log(
        action="organization.delete_requested",
        actor=actor,
        target=organization,
        job_id=job.pk,
        slug=organization.slug,
    )
    if dispatch:
        transaction.on_commit(lambda: organization_deletion_dispatch(job_id=job.pk))
    return job


# --- The job ------------------------------------------------------------------------------------


def _stall_cutoff() -> Any:
    return timezone.now() - timedelta(seconds=int(settings.USER_DELETION_STALL_SECONDS))


def _claim(job_id: int) -> bool:
    """Take the job: pending, or running with a dead worker. One UPDATE: one runner wins."""
    claimable = Q(status=OrganizationDeletionStatus.PENDING) | Q(
        status=OrganizationDeletionStatus.RUNNING, heartbeat_at__lt=_stall_cutoff()
    )
    return bool(
        OrganizationDeletion.objects.filter(claimable, pk=job_id).update(
            status=OrganizationDeletionStatus.RUNNING, heartbeat_at=timezone.now()
        )
    )


def _beat(job: OrganizationDeletion, *, key: str, count: int) -> None:
    job.removed[key] = int(job.removed.get(key, 0)) + count
    job.step = key
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["removed", "step", "heartbeat_at"])


def _erase_all(job: OrganizationDeletion) -> None:
    organization_id = job.organization_key
    # The apps' parts read the organization's rows: they run in its scope, like a task.
    with organization_scope(organization_id):
        for part in organization_data_parts():
            while True:
                with transaction.atomic():
                    handled = part.erase(organization_id, part.batch)
                if not handled:
                    break
                _beat(job, key=part.key, count=handled)
    with transaction.atomic():
        # What is left cascades with the row (quotas, flags, generations); usage records and
        # audit events keep the id without a constraint.
        deleted, _ = Organization.objects.filter(pk=organization_id).delete()
    if deleted:
        _beat(job, key="organization", count=1)


@platform_code
def organization_deletion_run(*, job_id: int) -> OrganizationDeletion | None:
    """Run (or resume) one deletion job to its end; None when another runner holds it."""
    if not _claim(job_id):
        return None
    job = OrganizationDeletion.objects.select_related("requested_by").get(pk=job_id)
    try:
        _erase_all(job)
    except Exception as exc:
        job.attempts += 1
        failed = job.attempts >= int(settings.USER_DELETION_MAX_ATTEMPTS)
        job.status = (
            OrganizationDeletionStatus.FAILED if failed else OrganizationDeletionStatus.PENDING
        )
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        job.save(update_fields=["attempts", "status", "error"])
        logger.exception("organization_deletion_failed", job_id=job.pk, attempts=job.attempts)
        raise
    job.status = OrganizationDeletionStatus.DONE
    job.finished_at = timezone.now()
    job.error = ""
    job.save(update_fields=["status", "finished_at", "error"])
    audit_log(
        action="organization.deleted",
        actor=Actor(user=job.requested_by),
        target=job,
        job_id=job.pk,
        organization=job.organization_label,
        organization_id=str(job.organization_key),
        removed=job.removed,
    )
    logger.info("organization_deleted", job_id=job.pk)
    return job


@platform_code
def organization_deletions_resume(*, limit: int = 10) -> int:
    """Periodic (and at a worker's start): run jobs whose worker died or whose dispatch was
    lost; returns how many finished."""
    stale = (
        OrganizationDeletion.objects.filter(
            status__in=[OrganizationDeletionStatus.PENDING, OrganizationDeletionStatus.RUNNING],
            heartbeat_at__lt=_stall_cutoff(),
        )
        .order_by("heartbeat_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for job_id in list(stale):
        try:
            if organization_deletion_run(job_id=job_id) is not None:
                done += 1
        except Exception:  # noqa: BLE001 - recorded on the job; the next one still runs
            logger.warning("organization_deletion_resume_failed", job_id=job_id)
    return done


def organization_deletion_retry(*, actor: Actor, job: OrganizationDeletion) -> None:
    """Queue a failed job again from where it stopped."""
    updated = OrganizationDeletion.objects.filter(
        pk=job.pk, status=OrganizationDeletionStatus.FAILED
    ).update(
        status=OrganizationDeletionStatus.PENDING, attempts=0, error="", heartbeat_at=timezone.now()
    )
    if not updated:
        raise ApplicationError("Only a failed deletion can be retried.", code="NOT_RETRYABLE")
    audit_log(action="organization.delete_retried", actor=actor, target=job, job_id=job.pk)
    transaction.on_commit(lambda: organization_deletion_dispatch(job_id=job.pk))


# --- Runners ------------------------------------------------------------------------------------


def _run_in_thread(job_id: int) -> None:
    close_old_connections()
    try:
        organization_deletion_run(job_id=job_id)
    except Exception:  # noqa: BLE001 - recorded on the job; resumed by the maintenance
        logger.warning("organization_deletion_thread_failed", job_id=job_id)
    finally:
        connections.close_all()


def organization_deletion_dispatch(*, job_id: int) -> None:
    """Hand the job to ``ORGANIZATION_DELETION_RUNNER``; never blocks a request except
    ``inline``."""
    runner = settings.ORGANIZATION_DELETION_RUNNER
    if runner == "celery":
        from tenants.tasks import organization_deletion_task

        organization_deletion_task.delay(job_id=job_id)
    elif runner == "thread":
        threading.Thread(
            target=_run_in_thread, args=(job_id,), name=f"org-deletion-{job_id}", daemon=True
        ).start()
    else:
        try:
            organization_deletion_run(job_id=job_id)
        except Exception:  # noqa: BLE001 - recorded on the job; the caller's request stands
            logger.warning("organization_deletion_inline_failed", job_id=job_id)
