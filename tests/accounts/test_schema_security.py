"""Swagger's Authorize dialog: the JWT box first, and every box says what to paste."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from accounts.schema import API_KEY_SCHEME, JWT_SCHEME, OPENAI_API_KEY_SCHEME


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_security_schemes_list_the_jwt_first_then_the_api_keys(schema):
    # Swagger UI shows the schemes in the schema's order.
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == [JWT_SCHEME, API_KEY_SCHEME, OPENAI_API_KEY_SCHEME]
    assert schemes[JWT_SCHEME] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes[JWT_SCHEME]["description"],
    }
    assert schemes[API_KEY_SCHEME]["type"] == "apiKey"


def test_each_scheme_says_what_to_paste(schema):
    schemes = schema["components"]["securitySchemes"]
    assert "auth/login" in schemes[JWT_SCHEME]["description"]
    assert "without the word Bearer" in schemes[JWT_SCHEME]["description"]
    assert "Api-Key ak_" in schemes[API_KEY_SCHEME]["description"]
    assert "Not for a JWT" in schemes[API_KEY_SCHEME]["description"]
    assert "/v1/" in schemes[OPENAI_API_KEY_SCHEME]["description"]


def test_the_rest_api_offers_the_jwt_before_an_api_key(schema):
    security = schema["paths"]["/api/v1/users/me"]["get"]["security"]
    assert security[0] == {JWT_SCHEME: []}
    assert {API_KEY_SCHEME: []} in security
