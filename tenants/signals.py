"""Every new user gets a personal organization, whichever door created them (sign-up, code
login, the console, ``createsuperuser``, an invitation)."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _personal_organization(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from tenants.services import personal_organization_ensure

        personal_organization_ensure(user=instance)


@receiver(post_save, sender="tenants.Membership")
@receiver(post_delete, sender="tenants.Membership")
def _membership_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from tenants.resolution import memberships_cache_clear

    memberships_cache_clear([instance.user_id])


@receiver(post_save, sender="tenants.Organization")
@receiver(pre_delete, sender="tenants.Organization")
def _organization_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    # A rename, a suspension, a deletion: every member's cached memberships are stale.
    from tenants.models import Membership
    from tenants.resolution import memberships_cache_clear

    memberships_cache_clear(
        Membership.objects.filter(organization_id=instance.pk).values_list("user_id", flat=True)
    )
