"""Every organization has a subscription (the free plan), whichever door created it."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from tenants.models import Organization


@receiver(post_save, sender=Organization)
def _organization_subscription(
    sender: Any, instance: Organization, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from billing.services.subscriptions import subscription_ensure

        subscription_ensure(organization=instance)
