"""Azure OpenAI through the official ``openai`` SDK: deployments and an explicit API version."""

from typing import Any

import openai
from django.conf import settings

from ai.providers.openai_compat.provider import OpenAICompatibleProvider


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI: model names are deployment names, the API version is explicit."""

    name = "azure"

    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str,
        api_version: str,
        chat_deployment: str,
        embedding_deployment: str,
        embedding_dimensions: int | None = None,
        pooled: bool = False,
    ) -> None:
        super().__init__(
            base_url=None,
            api_key=api_key,
            chat_model=chat_deployment,
            embedding_model=embedding_deployment,
            embedding_dimensions=embedding_dimensions,
            pooled=pooled,
        )
        self.endpoint = endpoint
        self.api_version = api_version

    def _client_key(self) -> tuple:
        return (
            type(self).__name__,
            self.endpoint,
            self.api_key,
            self.api_version,
            float(settings.AI_REQUEST_TIMEOUT),
        )

    def _make_client(self) -> Any:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.endpoint,
            api_key=self.api_key,
            api_version=self.api_version,
            timeout=float(settings.AI_REQUEST_TIMEOUT),
            max_retries=0,
        )
