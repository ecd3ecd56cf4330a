"""Every new user gets a personal organization, whichever door created them (sign-up, code
login, the console, ``createsuperuser``, an invitation)."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _personal_organization(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from tenants.services import personal_organization_ensure

        personal_organization_ensure(user=instance)
