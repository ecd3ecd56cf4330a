"""The organizations API (``/api/v1/organizations/``): organizations, members, invitations,
the audit trail and feature flags of an organization."""
