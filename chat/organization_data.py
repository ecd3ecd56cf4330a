"""What the chat app holds of an organization, for deleting it (``tenants.deletion``): every
member's chat sessions with their messages. Registered from ``ChatConfig.ready``."""

import uuid

from chat.models import ChatMessage, ChatSession
from tenants.deletion import OrganizationDataPart, organization_data_part_register


def _chats_erase(organization_id: uuid.UUID, limit: int) -> int:
    ids = list(
        ChatSession.all_organizations.filter(organization_id=organization_id).values_list(
            "pk", flat=True
        )[:limit]
    )
    if ids:
        # The messages go with their session (cascade).
        ChatSession.all_organizations.filter(pk__in=ids).delete()
        return len(ids)
    # Any message outside the organization's sessions (none today).
    ids = list(
        ChatMessage.all_organizations.filter(organization_id=organization_id).values_list(
            "pk", flat=True
        )[:limit]
    )
    ChatMessage.all_organizations.filter(pk__in=ids).delete()
    return len(ids)


def register() -> None:
    organization_data_part_register(
        OrganizationDataPart(key="chats", order=10, erase=_chats_erase, batch=50)
    )
