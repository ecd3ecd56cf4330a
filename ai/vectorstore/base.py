"""The small interface every vector store backend implements, and what flows through it."""

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

DENSE = "dense"
SPARSE = "bm25"
# Document visibility as the payload stores it (documents.models.DocumentVisibility's values).
PRIVATE = "private"
SHARED = "shared"
# The payload fields that say who may find a chunk: set at upsert, changed by
# ``update_document_payload`` (a visibility change, ``manage.py reindex_payloads``).
ACCESS_FIELDS = ("organization_id", "owner_id", "visibility")
# Point ids are derived from (document, chunk index): re-upserting a batch after a crash
# overwrites the same points instead of duplicating them.
_POINT_NAMESPACE = uuid.UUID("6f1c1d0e-3b0a-4c55-9a43-5d0f0e5b2a71")


class VectorStoreError(Exception):
    """The vector store failed or is unreachable; the message is safe to show."""


@dataclass(frozen=True)
class ChunkPoint:
    """One chunk to index: its dense vector plus the payload every search filters on."""

    document_id: str
    owner_id: str
    chunk_index: int
    page: int
    text: str
    vector: list[float]
    # The tenant key of every search, and who besides the owner may find the chunk.
    organization_id: str = ""
    visibility: str = PRIVATE

    @property
    def point_id(self) -> str:
        return chunk_point_id(self.document_id, self.chunk_index)

    def payload(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "owner_id": self.owner_id,
            "visibility": self.visibility,
            "document_id": self.document_id,
            "page": self.page,
            "chunk_index": self.chunk_index,
            "text": self.text,
        }


@dataclass(frozen=True)
class SearchHit:
    document_id: str
    chunk_index: int
    page: int
    text: str
    score: float


@dataclass(frozen=True)
class SearchScope:
    """Whose chunks a search may return: those of one organization that are the actor's own
    or shared with that organization. Every backend applies it as a server-side filter."""

    organization_id: str
    owner_id: str

    def allows(self, payload: dict[str, Any] | None) -> bool:
        """The same rule on a returned payload (a second check, in this process)."""
        if not payload or payload.get("organization_id") != self.organization_id:
            return False
        return payload.get("owner_id") == self.owner_id or payload.get("visibility") == SHARED


def chunk_point_id(document_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{document_id}:{chunk_index}"))


def collection_name(model: str, dimensions: int) -> str:
    """One collection per embedding model and dimension: vectors of two models never mix."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "model"
    return f"{settings.QDRANT_COLLECTION_PREFIX}_{slug[:80]}_{int(dimensions)}"


class VectorStore(ABC):
    """Chunks of the users' documents, searched by dense + BM25 vectors fused with RRF.

    Every search takes a :class:`SearchScope`: no method returns chunks of another
    organization, or another member's private chunks.
    """

    backend: str

    @abstractmethod
    async def ensure_collection(self, name: str, *, dimensions: int) -> None:
        """Create the collection and its payload indexes if missing (idempotent)."""

    @abstractmethod
    async def list_collections(self) -> list[str]:
        """Names of this project's collections."""

    @abstractmethod
    async def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        """Insert or overwrite points (dense vector, BM25 vector of the text, payload)."""

    @abstractmethod
    async def delete_document(self, document_id: str) -> None:
        """Remove every point of the document from every collection."""

    @abstractmethod
    async def update_document_payload(self, document_id: str, payload: dict[str, Any]) -> None:
        """Set payload fields (``ACCESS_FIELDS``) on every point of the document, in every
        collection (a visibility change; points indexed before organizations existed)."""

    @abstractmethod
    async def count(self, name: str, *, document_id: str | None = None) -> int:
        """Points in the collection (of one document when given); 0 for a missing collection."""

    @abstractmethod
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
        """Hybrid search within ``scope`` (optionally only some documents)."""

    def optimize(self, name: str) -> bool:
        """Run the engine's segment optimizer (blocking). Backends that optimize by themselves
        return False."""
        return False

    def health(self) -> dict[str, Any]:
        return {"mode": self.backend}

    @abstractmethod
    def close(self) -> None:
        """Release files, connections and threads."""
