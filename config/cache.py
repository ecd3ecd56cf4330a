"""Helpers for values read through the shared cache and invalidated on change."""

from django.core.cache import cache
from django.db import transaction


def cache_invalidate(key: str) -> None:
    """Delete ``key`` now and again when the current transaction commits.

    A reader between the write and its commit still sees the old row and could cache it
    again; the second delete removes that copy.
    """
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))
