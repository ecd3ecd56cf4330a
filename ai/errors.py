"""Envelope-ready errors of the AI integrations (model provider, vector store).

Services of every app raise these when a provider or the vector store fails, so the REST
handler answers the documented 502/503 envelope and the WebSocket an ``error`` frame instead
of a 500 or a bare close.
"""

from typing import Any

from ai.providers import ProviderError
from ai.vectorstore import VectorStoreError
from config.exceptions import ApplicationError


class ModelNotAllowedError(ApplicationError):
    default_code = "MODEL_NOT_ALLOWED"
    default_detail = "This model is not allowed."


class ProviderUnavailableError(ApplicationError):
    status_code = 502
    default_code = "AI_PROVIDER_ERROR"
    default_detail = "The AI model could not answer. Try again later."


class VectorStoreUnavailableError(ApplicationError):
    status_code = 503
    default_code = "VECTOR_STORE_UNAVAILABLE"
    default_detail = "Document search is unavailable right now. Try again later."


def provider_error_to_application(
    error: ProviderError, *, message_id: int | None = None
) -> ApplicationError:
    """The envelope-ready form of a provider failure (no internals, just what happened)."""
    details: dict[str, Any] = {"kind": error.kind}
    if message_id is not None:
        details["message_id"] = message_id
    headers = {}
    if error.retry_after is not None:
        details["retry_after"] = round(error.retry_after, 1)
        headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
    if error.kind == "model_not_allowed":
        return ModelNotAllowedError(str(error), details=details)
    status_code = 503 if error.kind == "rate_limited" else 502
    return ProviderUnavailableError(
        str(error), details=details, status_code=status_code, headers=headers
    )


def vector_store_error_to_application(error: VectorStoreError) -> ApplicationError:
    """A vector store failure as a 503 (its message is written to be shown)."""
    return VectorStoreUnavailableError(str(error))
