"""OpenAPI description of our authentication schemes (imported by AccountsConfig.ready).

Swagger UI's *Authorize* dialog lists the schemes in the order of their names (drf-spectacular
sorts components by name), so the names are chosen to put the JWT first - what a person trying
the API has just got from ``auth/login`` - and each description says exactly what to paste into
its box (a JWT pasted into an API-key box is sent without ``Bearer`` and answers 401).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

# Sorted by name in the schema: this order is the order of the Authorize dialog.
JWT_SCHEME = "accessTokenJWT"
API_KEY_SCHEME = "apiKeyHeader"
OPENAI_API_KEY_SCHEME = "openaiApiKey"

JWT_DESCRIPTION = (
    "JWT access token (sign-in). Paste only the `access` value returned by "
    "`POST /api/v1/auth/login` (or `auth/mfa/verify`, `auth/code/verify`, `auth/refresh`): "
    "`eyJ...`, without the word Bearer - Swagger adds it."
)
API_KEY_DESCRIPTION = (
    "Personal API key (REST, scopes chat, documents, read, openai). Paste the whole header "
    "value: `Api-Key ak_...` (the words Api-Key, a space, then the key from "
    "`POST /api/v1/users/me/api-keys`). Not for a JWT: paste that in accessTokenJWT."
)
OPENAI_API_KEY_DESCRIPTION = (
    "Personal API key with the `openai` scope, as OpenAI clients send it, for the "
    "OpenAI-compatible API under `/v1/`. Paste only the key: `ak_...` (Swagger adds Bearer)."
)


class AccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = JWT_SCHEME
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": JWT_DESCRIPTION,
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.apikeys.ApiKeyAuthentication"
    name = API_KEY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": API_KEY_DESCRIPTION,
        }


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.apikeys.BearerApiKeyAuthentication"
    name = OPENAI_API_KEY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": OPENAI_API_KEY_DESCRIPTION}
