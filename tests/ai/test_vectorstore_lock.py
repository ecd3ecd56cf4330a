"""The embedded index folder is held by one store (one process) at a time."""

import pytest
from asgiref.sync import async_to_sync

from ai.embeddings import hashed_embedding
from ai.vectorstore import ChunkPoint
from ai.vectorstore.edge import EdgeVectorStore, EmbeddedStoreLockedError


def _store(path) -> EdgeVectorStore:
    return EdgeVectorStore(path=path, prefix="chunks")


def test_second_opener_gets_a_clear_error_and_touches_nothing(tmp_path):
    first = _store(tmp_path)
    async_to_sync(first.ensure_collection)("chunks_t_8", dimensions=8)
    text = "lantern by the gate"
    point = ChunkPoint("d1", "1", 0, 1, text, hashed_embedding(text, 8))
    async_to_sync(first.upsert)("chunks_t_8", [point])
    first.optimize("chunks_t_8")
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))

    with pytest.raises(EmbeddedStoreLockedError) as caught:
        _store(tmp_path)
    assert "QDRANT_URL" in str(caught.value)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == files
    assert async_to_sync(first.count)("chunks_t_8") == 1

    first.close()
    second = _store(tmp_path)  # released on close: the next one opens it
    assert async_to_sync(second.count)("chunks_t_8") == 1
    second.close()


def test_client_local_mode_held_elsewhere_is_a_vector_store_error(tmp_path):
    from ai.vectorstore import VectorStoreError
    from ai.vectorstore.client import QdrantClientVectorStore

    first = QdrantClientVectorStore(prefix="chunks", location=str(tmp_path))
    try:
        with pytest.raises(VectorStoreError) as caught:
            QdrantClientVectorStore(prefix="chunks", location=str(tmp_path))
        assert "QDRANT_URL" in str(caught.value)
        assert first.health()["collections"] == 0
    finally:
        first.close()
