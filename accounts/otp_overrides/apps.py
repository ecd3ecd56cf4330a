from django.apps import AppConfig


class OtpOverridesConfig(AppConfig):
    """Replaces django-otp management commands that would bypass the product's MFA rules.

    Listed before ``django_otp.plugins.*`` in ``INSTALLED_APPS``: Django runs the command of
    the first app that has one of that name.
    """

    name = "accounts.otp_overrides"
    label = "accounts_otp_overrides"
    verbose_name = "django-otp command overrides"
