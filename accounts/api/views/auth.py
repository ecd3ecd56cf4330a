"""Auth endpoints (register, login, tokens, MFA): thin doors over the services."""

import contextlib
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import mfa, services
from accounts.api.refresh_cookie import (
    RefreshCookieMixin,
    clear_cookie,
    cookie_token,
    enforce_csrf,
)
from accounts.api.serializers import (
    BackupCodesSerializer,
    LoginJsonSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    MfaChallengeSerializer,
    MfaCodePasswordSerializer,
    MfaConfirmResponseSerializer,
    MfaEnrollmentRequiredSerializer,
    MfaSetupSerializer,
    MfaVerifySerializer,
    RefreshSerializer,
    RegisterSerializer,
    StepUpPasswordSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from accounts.api.views.common import AUTH_TAG, ERROR, user_data
from accounts.authentication import ENROLLMENT_SCOPE, SCOPE_CLAIM, AccessTokenAuthentication
from accounts.throttles import LOGIN_THROTTLES, MFA_THROTTLES, REGISTER_THROTTLES
from config.parsers import JSONParser


class RegisterView(APIView):
    """Sign up (when registration is open)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = REGISTER_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=RegisterSerializer,
        responses={201: UserSerializer, 400: ERROR, 403: ERROR, 429: ERROR},
        examples=[
            OpenApiExample(
                "Sign-up",
                value={
                    "email": "ada@example.com",
                    "username": "ada",
                    "full_name": "Ada Lovelace",
                    "password": "analytical engine 1843",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data, request=request)
        return Response(user_data(user), status=status.HTTP_201_CREATED)


LOGIN_RESPONSE = PolymorphicProxySerializer(
    component_name="LoginResult",
    serializers=[LoginResponseSerializer, MfaChallengeSerializer, MfaEnrollmentRequiredSerializer],
    resource_type_field_name=None,
)


class LoginView(RefreshCookieMixin, APIView):
    """Password login: a session, an MFA challenge, or (forced MFA roles) enrolment only."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = LOGIN_THROTTLES
    # JSON, or the OAuth2 password form of seed 000 clients (form-encoded; no multipart).
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        tags=AUTH_TAG,
        # JSON only in the schema, so generated clients send JSON; the OAuth2 password form
        # (``username``, ``password``, form-encoded) is an accepted alias, described here.
        description="JSON `{email, password}`. Also accepted (seed clients): the OAuth2 "
        "password form, `application/x-www-form-urlencoded` with `username` (the email) and "
        "`password`. Answers tokens and the user, the MFA challenge, or (forced MFA roles) "
        "enrolment only.",
        request={"application/json": LoginJsonSerializer},
        responses={200: LOGIN_RESPONSE, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
        examples=[
            OpenApiExample(
                "JSON", value={"email": "ada@example.com", "password": "..."}, request_only=True
            ),
            OpenApiExample(
                "MFA challenge",
                value={"mfa_required": True, "mfa_token": "eyJ..."},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.auth_login(
            identifier=serializer.validated_data["identifier"],
            password=serializer.validated_data["password"],
            request=request,
        )
        return login_outcome_response(outcome)


def login_outcome_response(outcome: services.LoginOutcome) -> Response:
    """The answer of every login door (password, email code): session, MFA or enrolment."""
    if outcome.mfa_token:
        return Response({"mfa_required": True, "mfa_token": outcome.mfa_token})
    if outcome.enrollment_token:
        return Response(
            {
                "mfa_enrollment_required": True,
                "enrollment_token": outcome.enrollment_token,
                "token_type": "bearer",
                "user": user_data(outcome.user),
            }
        )
    return Response({**outcome.tokens, "user": user_data(outcome.user)})


class MfaVerifyView(RefreshCookieMixin, APIView):
    """Second login step: ``mfa_token`` + a TOTP or backup code."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=MfaVerifySerializer,
        responses={200: LoginResponseSerializer, 400: ERROR, 401: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = MfaVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, tokens = mfa.auth_mfa_verify(**serializer.validated_data, request=request)
        return Response({**tokens, "user": user_data(user)})


class RefreshView(RefreshCookieMixin, APIView):
    """Rotate a refresh token: from the JSON body, or the browser's refresh cookie."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        tags=AUTH_TAG,
        description="API clients post `{refresh}` and get a new pair. A browser page that "
        "logged in with the header `X-Refresh-Cookie: 1` holds its refresh token in an "
        "HttpOnly, SameSite=Strict cookie scoped to this path: it posts no body (or `{}`) with "
        "`X-CSRFToken` (the `csrftoken` cookie) and gets the new access token, the rotated "
        "refresh token going back into the cookie.",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def post(self, request: Request) -> Response:
        body = request.data if hasattr(request.data, "get") else {}
        from_cookie = cookie_token(request)
        if not (body.get("refresh") or body.get("refresh_token")) and from_cookie:
            enforce_csrf(request)
            tokens = services.auth_token_refresh(refresh=from_cookie, request=request)
            # The rotated token goes back into the cookie, whatever the header said.
            request._request.META["HTTP_X_REFRESH_COOKIE"] = "1"
            return Response(tokens)
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.auth_token_refresh(**serializer.validated_data, request=request))

    @extend_schema(
        tags=AUTH_TAG,
        summary="Log out the browser session of the refresh cookie",
        description="Ends the session whose refresh token is in the cookie (and the access "
        "token sent as Bearer, if any) and clears the cookie. Needs `X-CSRFToken`. API "
        "clients use `POST auth/logout` with their refresh token instead.",
        request=None,
        responses={204: None, 401: ERROR, 403: ERROR},
    )
    def delete(self, request: Request) -> Response:
        from_cookie = cookie_token(request)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if from_cookie:
            enforce_csrf(request)
            access = None
            try:
                authenticated = AccessTokenAuthentication().authenticate(request)
            except Exception:  # noqa: BLE001 - an expired bearer does not keep the session
                authenticated = None
            if authenticated is not None:
                access = authenticated[1]
            # Already ended or expired: clearing the cookie is all that is left to do.
            with contextlib.suppress(services.InvalidTokenError):
                services.auth_refresh_revoke(
                    refresh=from_cookie, access_token=access, request=request
                )
        clear_cookie(response)
        return response


class LogoutView(APIView):
    """End this session: the refresh token and the current access token stop working."""

    @extend_schema(
        tags=AUTH_TAG,
        request=RefreshSerializer,
        responses={204: None, 400: ERROR, 401: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.auth_logout(
            user=request.user,
            refresh=serializer.validated_data["refresh"],
            access_token=request.auth,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """End every session of the caller (all devices, open WebSockets too)."""

    @extend_schema(tags=AUTH_TAG, request=None, responses={204: None, 401: ERROR})
    def post(self, request: Request) -> Response:
        services.auth_logout_all(user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MfaEnableView(APIView):
    """Start TOTP enrolment (the current password is asked again)."""

    allow_enrollment_token = True
    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=StepUpPasswordSerializer,
        responses={
            200: MfaSetupSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = StepUpPasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            mfa.mfa_enable(user=request.user, request=request, **serializer.validated_data)
        )


class MfaConfirmView(RefreshCookieMixin, APIView):
    """Finish enrolment with a first code and the password; returns the backup codes once."""

    allow_enrollment_token = True
    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=MfaCodePasswordSerializer,
        responses={
            200: MfaConfirmResponseSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = MfaCodePasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = mfa.mfa_confirm(user=request.user, request=request, **serializer.validated_data)
        body: dict[str, Any] = {"backup_codes": codes}
        if request.auth is not None and request.auth.get(SCOPE_CLAIM) == ENROLLMENT_SCOPE:
            # Enrolment forced at login is done: this is now a full login.
            body["tokens"] = services.user_login_complete(
                user=request.user, request=request, method="mfa_enrollment"
            )
        return Response(body)


class MfaDisableView(APIView):
    """Turn MFA off (password and a current code)."""

    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=MfaCodePasswordSerializer,
        responses={204: None, 400: ERROR, 401: ERROR, 403: ERROR, 409: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = MfaCodePasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mfa.mfa_disable(user=request.user, request=request, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MfaBackupCodesView(APIView):
    """Replace the backup codes (a current code and the password required)."""

    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=MfaCodePasswordSerializer,
        responses={
            200: BackupCodesSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = MfaCodePasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = mfa.mfa_backup_codes_regenerate(
            user=request.user, request=request, **serializer.validated_data
        )
        return Response({"backup_codes": codes})
