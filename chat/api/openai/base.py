"""What every view of the OpenAI-compatible door shares: authentication, parsing, errors, usage."""

from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.permissions import VerifiedEmailRequired
from ai.providers import Usage
from chat.api.generate import AnyAcceptNegotiation
from chat.api.openai.errors import openai_exception_handler
from tenants.authentication import (
    TenantAccessTokenAuthentication,
    TenantApiKeyAuthentication,
    TenantBearerApiKeyAuthentication,
)

TAGS = ["openai"]
DOOR = "openai_api"


class OpenAIView(APIView):
    """Bearer API keys or access tokens, JSON in and out, errors in OpenAI's shape."""

    authentication_classes = [
        TenantBearerApiKeyAuthentication,
        TenantAccessTokenAuthentication,
        TenantApiKeyAuthentication,
    ]
    permission_classes = [IsAuthenticated, VerifiedEmailRequired]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAcceptNegotiation

    def get_exception_handler(self):
        return openai_exception_handler


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
