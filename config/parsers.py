"""Request parsers: JSON everywhere (multipart only where a file is uploaded).

``JSONParser`` bounds the nesting depth of a body: Python's decoder recurses per level, so a
few kilobytes of ``[[[[...`` would otherwise end in an unhandled ``RecursionError`` (a 500)
here or later in a serializer. Deeper bodies get a 400 envelope.
"""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

JSON_MAX_DEPTH = 64


def json_depth_exceeds(data: Any, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether ``data`` nests objects/arrays more than ``limit`` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a nesting limit of ``JSON_MAX_DEPTH`` levels."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        too_deep = ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise too_deep from exc
        if json_depth_exceeds(data):
            raise too_deep
        return data
