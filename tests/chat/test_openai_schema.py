"""The OpenAI-compatible routes in the OpenAPI schema, with their OpenAI shapes."""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _ref(content: dict) -> str:
    return content["schema"]["$ref"].rsplit("/", 1)[-1]


def test_chat_completions_documents_json_and_event_stream(schema):
    operation = schema["paths"]["/v1/chat/completions"]["post"]
    assert operation["tags"] == ["openai"]
    assert {"openaiApiKey": []} in operation["security"]
    assert _ref(operation["requestBody"]["content"]["application/json"]) == (
        "ChatCompletionRequestRequest"
    )
    ok = operation["responses"]["200"]["content"]
    assert _ref(ok["application/json"]) == "ChatCompletion"
    assert _ref(ok["text/event-stream"]) == "ChatCompletionChunk"
    for status in ("400", "401", "403", "404", "429"):
        assert _ref(operation["responses"][status]["content"]["application/json"]) == "Error"
    components = schema["components"]["schemas"]
    assert set(components["Error"]["properties"]) == {"error"}
    assert set(components["ErrorBody"]["properties"]) == {"message", "type", "code", "param"}
    request = components["ChatCompletionRequestRequest"]["properties"]
    for field in (
        "model",
        "messages",
        "stream",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "user",
        "stream_options",
        "retrieval",
        "store",
    ):
        assert field in request, field
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(
        components["ChatCompletion"]["properties"]
    )


def test_models_and_embeddings_are_documented(schema):
    paths = schema["paths"]
    assert _ref(paths["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]) == (
        "ModelList"
    )
    assert "/v1/models/{model_id}" in paths
    embeddings = paths["/v1/embeddings"]["post"]
    assert _ref(embeddings["responses"]["200"]["content"]["application/json"]) == "EmbeddingList"
    request = schema["components"]["schemas"]["EmbeddingRequestRequest"]["properties"]
    assert {"input", "model", "encoding_format", "dimensions"} <= set(request)


def test_generation_routes_are_documented(schema):
    for path in (
        "/api/v1/ai/generate",
        "/api/v1/ai/generate/batch",
        "/api/v1/ai/stream/generate",
        "/api/v1/ai/ideas/history",
        "/api/v1/ai/ideas/{generation_id}/rate",
        "/api/v1/ai/models/{model_key}/load",
    ):
        assert path in schema["paths"], path
