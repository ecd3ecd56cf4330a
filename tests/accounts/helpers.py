"""Small helpers shared by the accounts tests."""

from typing import Any

import pyotp
from rest_framework.test import APIClient

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
MFA_VERIFY = "/api/v1/auth/mfa/verify"
ME = "/api/v1/users/me"


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def login(client: APIClient, email: str, password: str, **extra: Any):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **extra)


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert {"message", "code", "details", "timestamp", "request_id"} <= set(body)
    if code is not None:
        assert body["code"] == code, body
    return body
