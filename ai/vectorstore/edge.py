"""Embedded backend: Qdrant Edge, the Qdrant engine in this process, one shard per collection.

The index folder serves one process only, which is exactly the embedded mode: the web server
runs the Celery tasks in-process. The store takes an exclusive ``flock`` on ``.lock`` in the
folder before it touches any shard and holds it for the life of the process (the kernel drops
it when the process dies, even on ``kill -9``). A second process gets a clear error naming
``QDRANT_URL`` and never calls the engine: loading a shard that another process has open
rewrites and deletes files of that process's segments (``EdgeShard.load`` replays and removes
journals before it finds the write-ahead log locked).

Everything here is synchronous native code; the async methods hand writes to a thread and run
searches inline (they take a few milliseconds).
"""

import asyncio
import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    UpdateOperation,
)

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

logger = structlog.get_logger(__name__)

LOCK_FILE = ".lock"


class EmbeddedStoreLockedError(VectorStoreError):
    """Another process holds the embedded index folder (the message says what to do)."""


def _lock_index_folder(path: Path) -> int:
    """Take the folder's exclusive lock; return the descriptor that holds it.

    ``flock`` (not ``lockf``) because its lock belongs to this open file description: closing
    some other descriptor of the same file in this process cannot drop it by accident.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise VectorStoreError(f"Cannot open the embedded vector store folder ({exc}).") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise EmbeddedStoreLockedError(
            f"The embedded vector store ({path}) is in use by another process (pid {holder}). "
            "Qdrant Edge serves one process only: any layout with more than one process (web "
            "server workers, a Celery worker, a management command beside the server) needs a "
            "Qdrant server - set QDRANT_URL - or stop the other process."
        ) from exc
    # Who holds it, for the next process's message (the lock itself is the flock).
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _scope_filter(scope: SearchScope, document_ids: Sequence[str] | None) -> Filter:
    """The organization (the tenant key), and within it the actor's own or shared chunks."""
    must: list[Any] = [
        FieldCondition("organization_id", match=MatchValue(scope.organization_id)),
        Filter(
            should=[
                FieldCondition("owner_id", match=MatchValue(scope.owner_id)),
                FieldCondition("visibility", match=MatchValue(SHARED)),
            ]
        ),
    ]
    if document_ids is not None:
        must.append(FieldCondition("document_id", match=MatchAny(list(document_ids))))
    return Filter(must=must)


def _document_filter(document_id: str) -> Filter:
    return Filter(must=[FieldCondition("document_id", match=MatchValue(document_id))])


# Payload indexes every shard has: the organization is the tenant key (Qdrant keeps each
# organization's points together and plans the filtered search per organization).
_INDEXED = ("organization_id", "owner_id", "visibility", "document_id")


class EdgeVectorStore(VectorStore):
    backend = "edge"

    def __init__(self, *, path: Path, prefix: str, rrf_k: int = 60) -> None:
        self.path = Path(path)
        self.prefix = prefix
        self.rrf_k = rrf_k
        # Raises EmbeddedStoreLockedError before any shard is touched.
        self._lock_fd: int | None = _lock_index_folder(self.path)
        self._shards: dict[str, EdgeShard] = {}
        self._lock = threading.RLock()
        self._optimizers: dict[str, threading.Thread] = {}

    # --- shards ----------------------------------------------------------------------------
    def _shard_path(self, name: str) -> Path:
        return self.path / name

    def _open(self, name: str, *, dimensions: int | None = None) -> EdgeShard | None:
        """The open shard, loading it from disk or creating it (when dimensions are given)."""
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        with self._lock:
            shard = self._shards.get(name)
            if shard is not None:
                return shard
            folder = self._shard_path(name)
            try:
                if (folder / "edge_config.json").exists() or (folder / "wal").exists():
                    shard = EdgeShard.load(str(folder))
                elif dimensions:
                    folder.mkdir(parents=True, exist_ok=True)
                    shard = EdgeShard.create(str(folder), self._config(dimensions))
                    self._create_indexes(shard)
                else:
                    return None
            except Exception as exc:
                raise VectorStoreError(f"Cannot open the vector store shard {name}.") from exc
            self._shards[name] = shard
            return shard

    @staticmethod
    def _config(dimensions: int) -> EdgeConfig:
        return EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=int(dimensions), distance=Distance.Cosine)},
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        )

    @staticmethod
    def _create_indexes(shard: EdgeShard) -> None:
        # organization_id is the tenant key (is_tenant); owner_id and visibility narrow the
        # search inside it; document_id serves deletes and "only these documents".
        existing = set(shard.info().payload_schema)
        if "organization_id" not in existing:
            shard.update(
                UpdateOperation.create_field_index(
                    "organization_id", KeywordIndexParams(is_tenant=True)
                )
            )
        for field in ("owner_id", "visibility", "document_id"):
            if field not in existing:
                shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))

    # --- interface -------------------------------------------------------------------------
    async def ensure_collection(self, name: str, *, dimensions: int) -> None:
        shard = self._open(name, dimensions=dimensions)
        assert shard is not None
        if not set(_INDEXED) <= set(shard.info().payload_schema):
            self._create_indexes(shard)

    async def list_collections(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(
            p.name for p in self.path.iterdir() if p.is_dir() and p.name.startswith(self.prefix)
        )

    async def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        shard = self._open(name)
        if shard is None:
            raise VectorStoreError(f"Collection {name} does not exist.")
        edge_points = [
            Point(
                p.point_id,
                {DENSE: list(p.vector), SPARSE: bm25.document_sparse(p.text)},
                p.payload(),
            )
            for p in points
        ]
        await asyncio.to_thread(shard.update, UpdateOperation.upsert_points(edge_points))

    async def delete_document(self, document_id: str) -> None:
        condition = _document_filter(document_id)
        for name in await self.list_collections():
            shard = self._open(name)
            if shard is not None:
                await asyncio.to_thread(
                    shard.update, UpdateOperation.delete_points_by_filter(condition)
                )

    async def update_document_payload(self, document_id: str, payload: dict[str, Any]) -> None:
        condition = _document_filter(document_id)
        for name in await self.list_collections():
            shard = self._open(name)
            if shard is not None:
                await asyncio.to_thread(
                    shard.update, UpdateOperation.set_payload_by_filter(condition, dict(payload))
                )

    async def count(self, name: str, *, document_id: str | None = None) -> int:
        shard = self._open(name)
        if shard is None:
            return 0
        condition = _document_filter(document_id) if document_id else None
        return int(shard.count(CountRequest(exact=True, filter=condition)))

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
        return self.search_sync(
            name,
            scope=scope,
            dense_vector=dense_vector,
            query_text=query_text,
            limit=limit,
            document_ids=document_ids,
            min_dense_score=min_dense_score,
        )

    def search_sync(
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
        shard = self._open(name)
        if shard is None:
            return []
        condition = _scope_filter(scope, document_ids)
        candidates = max(limit * 4, 20)
        prefetches = [
            Prefetch(
                limit=candidates,
                query=Query.Nearest(list(dense_vector), using=DENSE),
                filter=condition,
                score_threshold=min_dense_score,
            )
        ]
        sparse = bm25.query_sparse(query_text)
        if sparse.indices:
            prefetches.append(
                Prefetch(
                    limit=candidates,
                    query=Query.Nearest(sparse, using=SPARSE),
                    filter=condition,
                )
            )
        points = shard.query(
            QueryRequest(
                limit=limit,
                prefetches=prefetches,
                query=Fusion.Rrf(k=self.rrf_k),
                filter=condition,
                with_payload=True,
            )
        )
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

    def optimize(self, name: str) -> bool:
        shard = self._open(name)
        if shard is None:
            return False
        changed = bool(shard.optimize())
        shard.flush()
        return changed

    def optimize_in_background(self, name: str) -> None:
        """Embedded mode runs tasks inside the request: the optimizer gets its own thread."""
        with self._lock:
            running = self._optimizers.get(name)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._optimize_logged, args=(name,), name=f"qdrant-optimize-{name}"
            )
            thread.daemon = True
            self._optimizers[name] = thread
            thread.start()

    def _optimize_logged(self, name: str) -> None:
        try:
            self.optimize(name)
        except Exception:
            logger.exception("qdrant_optimize_failed", collection=name)

    def health(self) -> dict[str, Any]:
        """A real query: every shard is opened (under this process's lock) and counted."""
        names = sorted(
            p.name for p in self.path.iterdir() if p.is_dir() and p.name.startswith(self.prefix)
        )
        points = 0
        for name in names:
            shard = self._open(name)
            if shard is not None:
                points += int(shard.count(CountRequest(exact=False)))
        return {
            "mode": "embedded",
            "backend": self.backend,
            "collections": len(names),
            "points": points,
            "disk_free_mb": shutil.disk_usage(self.path).free // (1024 * 1024),
        }

    def close(self) -> None:
        for thread in list(self._optimizers.values()):
            thread.join()
        with self._lock:
            for shard in self._shards.values():
                try:
                    shard.flush()
                    shard.close()
                except Exception:
                    logger.warning("qdrant_shard_close_failed", exc_info=True)
            self._shards.clear()
            if self._lock_fd is not None:
                # Closing the descriptor releases the flock; the file stays (never deleted,
                # so a waiting process cannot end up locking a different inode).
                with contextlib.suppress(OSError):
                    os.close(self._lock_fd)
                self._lock_fd = None
