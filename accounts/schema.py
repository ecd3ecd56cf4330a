"""OpenAPI description of our bearer authentication (imported by AccountsConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = "jwtAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.apikeys.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Personal API key: `Authorization: Api-Key ak_...` (REST only; "
            "scopes chat, documents, read, openai).",
        }


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.apikeys.BearerApiKeyAuthentication"
    name = "bearerApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Personal API key with the `openai` scope as OpenAI clients send it: "
            "`Authorization: Bearer ak_...` (the OpenAI-compatible API under `/v1/`).",
        }
