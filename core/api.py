"""Base API views shared by every app's doors."""

from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


class PublicAPIView(APIView):
    """An endpoint for anonymous callers (sign-up, login, password and email-code flows).

    No authentication at all, not only no permission: a client that still sends an expired or
    revoked bearer token must reach the login, not get a 401 for a token this endpoint does not
    need. Subclasses set their own throttles (every public endpoint is rate limited).
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
