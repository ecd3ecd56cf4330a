"""``POST /api/v1/search``: hybrid search over your own ready documents."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from accounts.throttles import IndexedThrottleMixin, IndexedUserRateThrottle
from documents.search import search_chunks


class SearchThrottle(IndexedThrottleMixin, UserRateThrottle):
    scope = "search"

    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)


class SearchRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True)
    top_k = serializers.IntegerField(min_value=1, max_value=50, required=False)
    document_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=100,
        help_text="Only these documents (of yours).",
    )

    def validate_query(self, value: str) -> str:
        if len(value) > settings.SEARCH_QUERY_MAX_CHARS:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {settings.SEARCH_QUERY_MAX_CHARS} characters."
            )
        return value

    def validate_top_k(self, value: int) -> int:
        return min(value, int(settings.RAG_MAX_TOP_K))


class SearchResultSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    title = serializers.CharField()
    page = serializers.IntegerField(help_text="1-based page (text files: form-feed pages).")
    score = serializers.FloatField(help_text="Reciprocal-rank-fusion score; higher is better.")
    text = serializers.CharField()


class SearchView(APIView):
    """Dense + BM25 search with reciprocal rank fusion; viewers may search too."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [IndexedUserRateThrottle, SearchThrottle]

    @extend_schema(
        summary="Search your documents",
        request=SearchRequestSerializer,
        responses={200: SearchResultSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Query", value={"query": "termination clause", "top_k": 3}, request_only=True
            ),
            OpenApiExample(
                "Hits",
                value=[
                    {
                        "document_id": "0b8f8a3e-6a49-4c1c-9a55-2f1d0c7d9e21",
                        "title": "Contract",
                        "page": 4,
                        "score": 0.032,
                        "text": "Either party may terminate…",
                    }
                ],
                response_only=True,
            ),
        ],
        tags=["documents"],
    )
    def post(self, request: Request) -> Response:
        serializer = SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ids = data.get("document_ids")
        hits = search_chunks(
            user=request.user,
            query=data["query"],
            top_k=data.get("top_k"),
            document_ids=[str(i) for i in ids] if ids is not None else None,
        )
        return Response(SearchResultSerializer(hits, many=True).data)
