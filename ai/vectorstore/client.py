"""Server backend: a Qdrant server or cluster through ``qdrant-client``'s async client.

The async client's HTTP connections belong to the event loop that opened them, while Django
calls us from many loops (one per ``async_to_sync`` call, the ASGI loop, Celery threads).
So the client lives on one private loop in a daemon thread and every call is handed to it.
Without ``QDRANT_URL`` the same code runs against qdrant-client's local mode (tests and the
benchmark baseline).
"""

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models

from ai.vectorstore import bm25
from ai.vectorstore.base import (
    DENSE,
    SHARED,
    SPARSE,
    ChunkPoint,
    SearchHit,
    SearchScope,
    VectorStore,
    VectorStoreError,
)

T = TypeVar("T")


def _sparse(vector: Any) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _scope_filter(scope: SearchScope, document_ids: Sequence[str] | None) -> models.Filter:
    """The organization (the tenant key), and within it the actor's own or shared chunks."""
    must: list[Any] = [
        _match("organization_id", scope.organization_id),
        models.Filter(should=[_match("owner_id", scope.owner_id), _match("visibility", SHARED)]),
    ]
    if document_ids is not None:
        must.append(
            models.FieldCondition(key="document_id", match=models.MatchAny(any=list(document_ids)))
        )
    return models.Filter(must=must)


class QdrantClientVectorStore(VectorStore):
    backend = "client"

    def __init__(
        self,
        *,
        prefix: str,
        url: str = "",
        api_key: str = "",
        location: str = "",
        timeout: int = 10,
        rrf_k: int = 60,
    ) -> None:
        self.prefix = prefix
        self.url = url
        self.rrf_k = rrf_k
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qdrant-client", daemon=True
        )
        self._thread.start()

        async def make() -> AsyncQdrantClient:
            if url:
                return AsyncQdrantClient(url=url, api_key=api_key or None, timeout=timeout)
            if location and location != ":memory:":
                return AsyncQdrantClient(path=location)
            return AsyncQdrantClient(location=":memory:")

        try:
            self._client: AsyncQdrantClient = asyncio.run_coroutine_threadsafe(
                make(), self._loop
            ).result()
        except Exception as exc:
            self._loop.call_soon_threadsafe(self._loop.stop)
            # Local mode locks its folder to one process, like the embedded store.
            raise VectorStoreError(
                f"Cannot open the vector store ({exc}). With more than one process, set "
                "QDRANT_URL to a Qdrant server."
            ) from exc
        self._known: set[str] = set()

    async def _call(self, factory: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return await asyncio.wrap_future(future)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"Qdrant request failed: {type(exc).__name__}.") from exc

    async def ensure_collection(self, name: str, *, dimensions: int) -> None:
        client = self._client

        async def create() -> None:
            if not await client.collection_exists(name):
                try:
                    await client.create_collection(
                        name,
                        vectors_config={
                            DENSE: models.VectorParams(
                                size=int(dimensions), distance=models.Distance.COSINE
                            )
                        },
                        sparse_vectors_config={
                            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                        },
                    )
                except Exception:
                    # Another worker created it between the check and the call.
                    if not await client.collection_exists(name):
                        raise
            if self.url:  # local mode has no payload indexes (and warns about them)
                # The organization is the tenant key: the server keeps each organization's
                # points together and plans filtered searches per organization.
                await client.create_payload_index(
                    name,
                    "organization_id",
                    models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
                )
                for field in ("owner_id", "visibility", "document_id"):
                    await client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)

        await self._call(create)
        self._known.add(name)

    async def list_collections(self) -> list[str]:
        client = self._client

        async def names() -> list[str]:
            response = await client.get_collections()
            return sorted(c.name for c in response.collections if c.name.startswith(self.prefix))

        return await self._call(names)

    async def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        structs = [
            models.PointStruct(
                id=p.point_id,
                vector={DENSE: list(p.vector), SPARSE: _sparse(bm25.document_sparse(p.text))},
                payload=p.payload(),
            )
            for p in points
        ]
        client = self._client
        await self._call(lambda: client.upsert(name, structs, wait=True))

    async def delete_document(self, document_id: str) -> None:
        selector = models.FilterSelector(
            filter=models.Filter(must=[_match("document_id", document_id)])
        )
        client = self._client
        for name in await self.list_collections():
            await self._call(
                lambda name=name: client.delete(name, points_selector=selector, wait=True)
            )

    async def update_document_payload(self, document_id: str, payload: dict[str, Any]) -> None:
        selector = models.FilterSelector(
            filter=models.Filter(must=[_match("document_id", document_id)])
        )
        client = self._client
        for name in await self.list_collections():
            await self._call(
                lambda name=name: client.set_payload(
                    name, payload=dict(payload), points=selector, wait=True
                )
            )

    async def count(self, name: str, *, document_id: str | None = None) -> int:
        client = self._client
        condition = (
            models.Filter(must=[_match("document_id", document_id)]) if document_id else None
        )

        async def run() -> int:
            if not await client.collection_exists(name):
                return 0
            return (await client.count(name, count_filter=condition, exact=True)).count

        return await self._call(run)

    async def search(
        self,
        name: str,
        *,
        scope: SearchScope,
        dense_vector: Sequence[float],
        query_text: str,
        limit: int,
        document_ids: Sequence[str] | None = None,
        min_dense_score: float | None = None,
    ) -> list[SearchHit]:
        client = self._client
        condition = _scope_filter(scope, document_ids)
        candidates = max(limit * 4, 20)
        prefetch = [
            models.Prefetch(
                query=list(dense_vector),
                using=DENSE,
                limit=candidates,
                filter=condition,
                score_threshold=min_dense_score,
            )
        ]
        sparse = bm25.query_sparse(query_text)
        if sparse.indices:
            prefetch.append(
                models.Prefetch(
                    query=_sparse(sparse), using=SPARSE, limit=candidates, filter=condition
                )
            )

        async def run() -> list[Any]:
            if name not in self._known and not await client.collection_exists(name):
                return []
            self._known.add(name)
            response = await client.query_points(
                name,
                prefetch=prefetch,
                query=models.RrfQuery(rrf=models.Rrf(k=self.rrf_k)),
                query_filter=condition,
                limit=limit,
                with_payload=True,
            )
            return response.points

        points = await self._call(run)
        return [
            SearchHit(
                document_id=str(p.payload["document_id"]),
                chunk_index=int(p.payload["chunk_index"]),
                page=int(p.payload["page"]),
                text=str(p.payload["text"]),
                score=float(p.score),
            )
            for p in points
            if scope.allows(p.payload)
        ]

    def health(self) -> dict[str, Any]:
        client = self._client

        async def probe() -> tuple[int, int]:
            # A real query per collection (approximate counts are cheap on the server).
            names = [c.name for c in (await client.get_collections()).collections]
            names = [n for n in names if n.startswith(self.prefix)]
            points = 0
            for name in names:
                points += (await client.count(name, exact=False)).count
            return len(names), points

        collections, points = asyncio.run_coroutine_threadsafe(probe(), self._loop).result(
            timeout=5
        )
        return {
            "mode": "server" if self.url else "local",
            "backend": self.backend,
            "collections": collections,
            "points": points,
        }

    def close(self) -> None:
        if self._loop.is_closed():
            return
        # Closing a dead connection must not mask the caller's error.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
