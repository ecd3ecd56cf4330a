"""The security schemes of accounts' authentication, for the classes that also resolve the
organization (the ones the API uses)."""

from accounts.schema import AccessTokenScheme, ApiKeyScheme, BearerApiKeyScheme


class TenantAccessTokenScheme(AccessTokenScheme):
    target_class = "tenants.authentication.TenantAccessTokenAuthentication"


class TenantApiKeyScheme(ApiKeyScheme):
    target_class = "tenants.authentication.TenantApiKeyAuthentication"


class TenantBearerApiKeyScheme(BearerApiKeyScheme):
    target_class = "tenants.authentication.TenantBearerApiKeyAuthentication"
