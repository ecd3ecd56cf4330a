"""What the metering app holds of a user, for deleting that user (``accounts.deletion``):
usage records are KEPT for accounting, with the user removed (anonymised); quota settings,
counters and reservations go with the account row. Registered from ``MeteringConfig.ready``."""

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from metering.models import UsageRecord


def _usage_preview(user: User) -> dict[str, int]:
    return {"usage records (anonymised)": UsageRecord.objects.filter(user=user).count()}


def _usage_anonymise(user: User, limit: int) -> int:
    ids = list(UsageRecord.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    return UsageRecord.objects.filter(pk__in=ids).update(user=None)


def register() -> None:
    user_data_part_register(
        UserDataPart(
            key="usage_records",
            order=90,
            preview=_usage_preview,
            erase=_usage_anonymise,
            kept=True,
            batch=1000,
        )
    )
