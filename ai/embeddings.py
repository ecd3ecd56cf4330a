"""Deterministic local embeddings for the offline provider.

Feature hashing of words and character trigrams into a fixed number of dimensions, L2-normalised.
No model, no network: texts that share words and word pieces land near each other, which is
enough for retrieval to work end to end on a machine without credentials. It is not a language
model embedding and is never presented as one.
"""

import hashlib
import math
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, (1.0 if (value >> 63) & 1 else -1.0)


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """Embed one text into ``dimensions`` floats (unit length; all zeros for empty text)."""
    vector = np.zeros(dimensions, dtype=np.float32)
    words = [w.lower() for w in _WORD.findall(text)]
    for word in words:
        index, sign = _bucket("w:" + word, dimensions)
        vector[index] += 2.0 * sign
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            index, sign = _bucket("t:" + padded[start : start + 3], dimensions)
            vector[index] += sign
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or math.isnan(norm):
        return vector.tolist()
    return (vector / norm).tolist()


def hashed_embeddings(texts: Sequence[str], dimensions: int) -> list[list[float]]:
    return [hashed_embedding(text, dimensions) for text in texts]
