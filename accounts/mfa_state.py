"""Reads of a user's MFA state (has a confirmed TOTP device), for every module that decides
on it: login, the console, the users API. Below :mod:`accounts.mfa` and :mod:`accounts.services`
so neither has to import the other to ask."""

from django.db.models import Exists, OuterRef, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


def mfa_enabled_subquery() -> Exists:
    """``Exists`` that annotates users with their MFA state in the same query."""
    return Exists(TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True))


def users_with_mfa_state(queryset: QuerySet[User] | None = None) -> QuerySet[User]:
    return (queryset if queryset is not None else User.objects.all()).annotate(
        mfa_enabled=mfa_enabled_subquery()
    )


def user_has_mfa(*, user: User) -> bool:
    annotated = getattr(user, "mfa_enabled", None)
    if isinstance(annotated, bool):
        return annotated
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
