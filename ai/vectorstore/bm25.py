"""BM25 sparse vectors computed in-process by Qdrant Edge's ``Bm25`` model, for both backends.

The model tokenises, lowercases, drops English stop words and stems; the collection's IDF
modifier supplies the inverse document frequency at query time, so documents store term
frequencies only and the same vectors work on Qdrant Edge and on a Qdrant server.
"""

from functools import lru_cache

from qdrant_edge import Bm25, Bm25Config, SparseVector


@lru_cache(maxsize=1)
def _model() -> Bm25:
    # avg_len ~ a 400-token chunk in words; only the length normalisation depends on it.
    return Bm25(Bm25Config(language="english", avg_len=300.0))


def document_sparse(text: str) -> SparseVector:
    return _model().embed_document(text)


def query_sparse(text: str) -> SparseVector:
    return _model().embed_query(text)
