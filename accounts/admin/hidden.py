"""Admins of other apps that the console hides: second-factor devices and permission groups."""

from django.contrib import admin
from django.contrib.auth.models import Group
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

# django-otp's device admins show TOTP secrets (and let anyone with the console copy a user's
# second factor). Devices are managed through the user: the "MFA" column and the audited
# "Reset MFA" action of the user admin (accounts.admin.users).
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)

# Permission groups mean nothing here (the role decides; admins are superusers), and editing
# them would be a console change outside every service and the audit trail.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
