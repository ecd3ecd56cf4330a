"""The verified-email requirement, the one check of every door."""

from django.conf import settings

from config.exceptions import PermissionDeniedError
from core.actor import Actor


class EmailNotVerifiedError(PermissionDeniedError):
    default_code = "EMAIL_NOT_VERIFIED"
    default_detail = (
        "Verify your email address first: request a link at /api/v1/auth/email/verify/request."
    )


def user_require_verified(*, actor: Actor) -> None:
    """Raise ``EMAIL_NOT_VERIFIED`` (403) when ``REQUIRE_VERIFIED_EMAIL`` is on and the actor's
    user has not confirmed their address. The one check of every door: the chat services
    (REST and WebSocket), document uploads, and the ``/v1/`` and generate doors' permission.
    The platform (an operator's command) is not asked."""
    if actor.system or actor.user is None:
        return
    if settings.REQUIRE_VERIFIED_EMAIL and not actor.user.is_verified:
        raise EmailNotVerifiedError()
