from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signup_gates import invitation_acceptor_register, signup_gate_register
        from tenants import schema, signals  # noqa: F401 - registers the receiver and schemes
        from tenants.invitations import invitation_accept_for_user, invitation_pending_for_email

        # An invited address may sign up by email code even while registration is closed,
        # and the code sign-in may carry the invitation's token to join at once.
        signup_gate_register(invitation_pending_for_email)
        invitation_acceptor_register(invitation_accept_for_user)
