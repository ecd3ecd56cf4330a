"""Account lifecycle endpoints: verification, password reset, sign-in by email code."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import lifecycle
from accounts.api.lifecycle_serializers import (
    AcceptedSerializer,
    CodeVerifySerializer,
    EmailSerializer,
    PasswordResetSerializer,
    VerifyEmailSerializer,
)
from accounts.api.refresh_cookie import RefreshCookieMixin
from accounts.api.serializers import UserSerializer
from accounts.api.views.auth import LOGIN_RESPONSE, login_outcome_response
from accounts.api.views.common import AUTH_TAG, ERROR, user_data
from accounts.deferred import AfterResponseMixin
from accounts.email_throttles import CODE_VERIFY_THROTTLES, EMAIL_THROTTLES
from core.actor import actor_from_request
from core.api import PublicAPIView

# One body for every mail-sending request, so the answer never tells whether an account exists.
FORGOT_ACCEPTED = {
    "detail": "If an account with this email address exists, we have sent it a link to reset "
    "the password."
}
CODE_ACCEPTED = {
    "detail": "If this email address may sign in (or sign up), we have sent it a sign-in code."
}
VERIFY_ACCEPTED = {"detail": "We have sent you a link to confirm your email address."}


class EmailVerifyRequestView(APIView):
    """Mail the caller a link that confirms their email address."""

    throttle_classes = EMAIL_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=None,
        responses={202: AcceptedSerializer, 401: ERROR, 409: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        lifecycle.email_verification_request(actor=actor_from_request(request))
        return Response(VERIFY_ACCEPTED, status=status.HTTP_202_ACCEPTED)


class EmailVerifyView(PublicAPIView):
    """Confirm an email address with the token from the link (``/?verify=<token>``)."""

    throttle_classes = CODE_VERIFY_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=VerifyEmailSerializer,
        responses={200: UserSerializer, 400: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = VerifyEmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = lifecycle.email_verify(
            **serializer.validated_data, actor=actor_from_request(request)
        )
        return Response(user_data(user))


class PasswordForgotView(AfterResponseMixin, PublicAPIView):
    """Ask for a reset link. Always 202 with the same body, in the same time (no account
    enumeration): the mail is prepared and sent after the answer."""

    throttle_classes = EMAIL_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=EmailSerializer,
        responses={202: AcceptedSerializer, 400: ERROR, 429: ERROR},
        examples=[OpenApiExample("Accepted", value=FORGOT_ACCEPTED, response_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = EmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle.password_forgot(**serializer.validated_data, actor=actor_from_request(request))
        return Response(FORGOT_ACCEPTED, status=status.HTTP_202_ACCEPTED)


class PasswordResetView(PublicAPIView):
    """Set a new password with the token from the link (``/?reset=<token>``).

    Every session of the user ends; MFA stays on (log in again, with the code)."""

    throttle_classes = CODE_VERIFY_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=PasswordResetSerializer,
        responses={204: None, 400: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle.password_reset(**serializer.validated_data, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CodeRequestView(AfterResponseMixin, PublicAPIView):
    """Mail a 6-digit sign-in code (10 minutes, single use). Always 202 with the same body, in
    the same time: the code is made and mailed after the answer. An address with no account
    gets one too when registration is open or an organization's invitation names it: its
    first verify creates the account."""

    throttle_classes = EMAIL_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=EmailSerializer,
        responses={202: AcceptedSerializer, 400: ERROR, 403: ERROR, 429: ERROR},
        examples=[OpenApiExample("Accepted", value=CODE_ACCEPTED, response_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = EmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle.login_code_request(**serializer.validated_data, actor=actor_from_request(request))
        return Response(CODE_ACCEPTED, status=status.HTTP_202_ACCEPTED)


class CodeVerifyView(RefreshCookieMixin, PublicAPIView):
    """Exchange the mailed code for a session, or the MFA challenge when MFA is on."""

    throttle_classes = CODE_VERIFY_THROTTLES

    @extend_schema(
        tags=AUTH_TAG,
        request=CodeVerifySerializer,
        responses={200: LOGIN_RESPONSE, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
        examples=[
            OpenApiExample(
                "Code", value={"email": "ada@example.com", "code": "042137"}, request_only=True
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = CodeVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = lifecycle.login_code_verify(
            **serializer.validated_data, actor=actor_from_request(request)
        )
        return login_outcome_response(outcome)
