"""Deleting a user and their data: a preview, then a resumable background job.

A user who has chatted owns rows in several apps (chats, documents with their files and
vectors, generations, usage). Deleting them all in one request would hold a long transaction
and could stop half-way, so deletion is a job (:class:`accounts.models.UserDeletion`):

- ``user_deletion_preview`` says what goes and what is kept (usage records stay, anonymised,
  for accounting);
- ``user_deletion_request`` deactivates the account at once (sessions and API keys end, the
  reason says why) and queues the job; audited;
- ``user_deletion_run`` erases part by part in small batches, each its own transaction, and
  finally the account row; every batch touches the job's heartbeat. A job whose worker died is
  claimed again by ``user_deletions_resume`` (periodic maintenance), so a crash only delays it.

The parts come from the apps that own the data (:func:`user_data_part_register`, called from
their ``AppConfig.ready``), so this module imports no app above accounts.

Where the job runs (``USER_DELETION_RUNNER``): a Celery worker (scaled mode), a background
thread of the server (embedded mode, like document ingestion: the embedded vector store lives
in the server process), or the caller (``inline``: tests and commands).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.apikeys import api_key_list_of_user, api_keys_revoke_all
from accounts.models import ApiKey, User, UserDeletion, UserDeletionStatus
from config.exceptions import ApplicationError
from core.actor import Actor
from core.tenancy import platform_code
from ops.audit import audit_log

logger = structlog.get_logger(__name__)

DELETION_REASON = "Account deletion requested by an administrator."


@dataclass(frozen=True)
class UserDataPart:
    """One kind of data a user owns, as the app that owns it knows it.

    ``preview(user)`` -> figures for the preview (label -> count); ``erase(user, limit)``
    removes (or, when ``kept``, anonymises) at most ``limit`` units in one transaction and
    returns how many it handled: 0 means the part is done. Erasing must be idempotent (a
    resumed job calls it again).
    """

    key: str
    order: int
    preview: Callable[[User], dict[str, int]]
    erase: Callable[[User, int], int]
    kept: bool = False
    batch: int = 200


_parts: dict[str, UserDataPart] = {}


def user_data_part_register(part: UserDataPart) -> None:
    """Called by each app that owns user data (in ``ready()``); re-registering replaces."""
    _parts[part.key] = part


def user_data_parts() -> list[UserDataPart]:
    return sorted(_parts.values(), key=lambda part: (part.order, part.key))


# --- This app's own parts ---------------------------------------------------------------------


def _api_keys_preview(user: User) -> dict[str, int]:
    return {"API keys": api_key_list_of_user(user=user).count()}


def _api_keys_erase(user: User, limit: int) -> int:
    ids = list(api_key_list_of_user(user=user).values_list("pk", flat=True)[:limit])
    ApiKey.objects.filter(pk__in=ids).delete()
    return len(ids)


user_data_part_register(
    UserDataPart(key="api_keys", order=10, preview=_api_keys_preview, erase=_api_keys_erase)
)


# --- Preview and request ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionPreview:
    """What deleting ``user`` removes and what it keeps (anonymised)."""

    removed: dict[str, int]
    kept: dict[str, int]


def user_deletion_check(*, actor: Actor, user: User) -> None:
    """Raise unless ``actor`` may delete ``user`` (every door asks this first)."""
    if actor.user_id == user.pk:
        # An admin who deletes themself could leave nobody to undo it.
        raise ApplicationError(
            "You cannot delete your own account.", code="SELF_CHANGE_FORBIDDEN", status_code=400
        )


@platform_code
def user_deletion_preview(*, user: User) -> DeletionPreview:
    removed: dict[str, int] = {"Account (profile, MFA devices, quota settings)": 1}
    kept: dict[str, int] = {}
    for part in user_data_parts():
        (kept if part.kept else removed).update(part.preview(user))
    return DeletionPreview(removed=removed, kept=kept)


def user_deletion_open(*, user: User) -> UserDeletion | None:
    """The user's pending or running deletion job, if any."""
    return UserDeletion.objects.filter(
        user=user, status__in=[UserDeletionStatus.PENDING, UserDeletionStatus.RUNNING]
    ).first()


def user_deletion_request(*, actor: Actor, user: User, dispatch: bool = True) -> UserDeletion:
    """Deactivate ``user`` now and queue the erasure of their data; returns the job.

    Asking again while a job is open returns that job. Audited as ``user_deletion_requested``
    with the preview's figures. ``dispatch=False``: the caller runs the job (``delete_user``).
    """
    from accounts.services import user_suspend

    user_deletion_check(actor=actor, user=user)
    existing = user_deletion_open(user=user)
    if existing is not None:
        return existing
    preview = user_deletion_preview(user=user)
    # Deactivated first: no new chats, uploads or keys while the job runs.
    user_suspend(actor=actor, user=user, reason=DELETION_REASON)
    api_keys_revoke_all(user=user, actor=actor, reason="user_deleted")
    try:
        with transaction.atomic():
            job = UserDeletion.objects.create(
                user=user,
                user_label=f"{user.email} (#{user.pk})",
                requested_by=actor.user if actor.user_id else None,
                preview={"removed": preview.removed, "kept": preview.kept},
            )
    except IntegrityError:  # a parallel request queued it first
        existing = user_deletion_open(user=user)
        if existing is None:
            raise
        return existing
    audit_log(
        action="user_deletion_requested",
        actor=actor,
        target=user,
        job_id=job.pk,
        removed=preview.removed,
        kept=preview.kept,
    )
    if dispatch:
        transaction.on_commit(lambda: user_deletion_dispatch(job_id=job.pk))
    return job


def user_deletion_retry(*, actor: Actor, job: UserDeletion) -> None:
    """Queue a failed job again from where it stopped (its ``removed`` figures are kept)."""
    updated = UserDeletion.objects.filter(pk=job.pk, status=UserDeletionStatus.FAILED).update(
        status=UserDeletionStatus.PENDING, attempts=0, error="", heartbeat_at=timezone.now()
    )
    if not updated:
        raise ApplicationError("Only a failed deletion can be retried.", code="NOT_RETRYABLE")
    audit_log(action="user_deletion_retried", actor=actor, target=job, job_id=job.pk)
    transaction.on_commit(lambda: user_deletion_dispatch(job_id=job.pk))


# --- The job ----------------------------------------------------------------------------------


def _stall_cutoff() -> Any:
    return timezone.now() - timedelta(seconds=int(settings.USER_DELETION_STALL_SECONDS))


def _claim(job_id: int) -> bool:
    """Take the job: pending, or running with a dead worker (no heartbeat). One UPDATE, so two
    runners never both win."""
    now = timezone.now()
    claimable = Q(status=UserDeletionStatus.PENDING) | Q(
        status=UserDeletionStatus.RUNNING, heartbeat_at__lt=_stall_cutoff()
    )
    return bool(
        UserDeletion.objects.filter(claimable, pk=job_id).update(
            status=UserDeletionStatus.RUNNING, heartbeat_at=now
        )
    )


def _beat(job: UserDeletion, *, step: str, key: str, count: int) -> None:
    job.removed[key] = int(job.removed.get(key, 0)) + count
    job.step = step
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["removed", "step", "heartbeat_at"])


@platform_code
def user_deletion_run(*, job_id: int) -> UserDeletion | None:
    """Run (or resume) one deletion job to its end; None when another runner holds it."""
    if not _claim(job_id):
        return None
    job = UserDeletion.objects.select_related("requested_by").get(pk=job_id)
    user = User.objects.filter(pk=job.user_id).first() if job.user_id else None
    try:
        if user is not None:
            for part in user_data_parts():
                while True:
                    with transaction.atomic():
                        handled = part.erase(user, part.batch)
                    if not handled:
                        break
                    _beat(job, step=part.key, key=part.key, count=handled)
            with transaction.atomic():
                # What is left cascades with the row: MFA devices, quota settings, tokens.
                User.objects.filter(pk=user.pk).delete()
            _beat(job, step="account", key="account", count=1)
    except Exception as exc:
        job.attempts += 1
        failed = job.attempts >= int(settings.USER_DELETION_MAX_ATTEMPTS)
        job.status = UserDeletionStatus.FAILED if failed else UserDeletionStatus.PENDING
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        job.save(update_fields=["attempts", "status", "error"])
        logger.exception("user_deletion_failed", job_id=job.pk, attempts=job.attempts)
        if failed:
            audit_log(
                action="user_deletion_failed",
                actor=Actor(user=job.requested_by),
                target=job,
                job_id=job.pk,
                error=job.error,
            )
        raise
    job.status = UserDeletionStatus.DONE
    job.finished_at = timezone.now()
    job.error = ""
    job.save(update_fields=["status", "finished_at", "error"])
    audit_log(
        action="user_deleted",
        actor=Actor(user=job.requested_by),
        target=job,
        job_id=job.pk,
        user=job.user_label,
        removed=job.removed,
    )
    logger.info("user_deleted", job_id=job.pk)
    return job


@platform_code
def user_deletions_resume(*, limit: int = 10) -> int:
    """Periodic: run jobs whose worker died (or whose dispatch was lost); returns how many."""
    stale = (
        UserDeletion.objects.filter(
            status__in=[UserDeletionStatus.PENDING, UserDeletionStatus.RUNNING],
            heartbeat_at__lt=_stall_cutoff(),
        )
        .order_by("heartbeat_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for job_id in list(stale):
        try:
            if user_deletion_run(job_id=job_id) is not None:
                done += 1
        except Exception:  # noqa: BLE001 - recorded on the job; the next one still runs
            logger.warning("user_deletion_resume_failed", job_id=job_id)
    return done


# --- Runners ----------------------------------------------------------------------------------


def _run_in_thread(job_id: int) -> None:
    close_old_connections()
    try:
        user_deletion_run(job_id=job_id)
    except Exception:  # noqa: BLE001 - recorded on the job; resumed by the maintenance
        logger.warning("user_deletion_thread_failed", job_id=job_id)
    finally:
        connections.close_all()


def user_deletion_dispatch(*, job_id: int) -> None:
    """Hand the job to the configured runner (``USER_DELETION_RUNNER``); never blocks a request
    except with ``inline``."""
    runner = settings.USER_DELETION_RUNNER
    if runner == "celery":
        from accounts.tasks import user_deletion_task

        user_deletion_task.delay(job_id=job_id)
    elif runner == "thread":
        threading.Thread(
            target=_run_in_thread, args=(job_id,), name=f"user-deletion-{job_id}", daemon=True
        ).start()
    else:
        try:
            user_deletion_run(job_id=job_id)
        except Exception:  # noqa: BLE001 - recorded on the job; the caller's request stands
            logger.warning("user_deletion_inline_failed", job_id=job_id)
