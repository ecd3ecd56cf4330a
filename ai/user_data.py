"""What the ai app holds of a user, for deleting that user (``accounts.deletion``): the
history of ``/api/v1/ai/generate*`` (ratings go with it). Registered from ``AiConfig.ready``."""

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from ai.models import Generation


def _generations_preview(user: User) -> dict[str, int]:
    return {"generations (prompt history)": Generation.objects.filter(user=user).count()}


def _generations_erase(user: User, limit: int) -> int:
    ids = list(Generation.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    Generation.objects.filter(pk__in=ids).delete()
    return len(ids)


def register() -> None:
    user_data_part_register(
        UserDataPart(
            key="generations", order=40, preview=_generations_preview, erase=_generations_erase
        )
    )
