"""Test doubles that run real servers (so real client code paths are exercised)."""

from tests.fakes.openai_server import FakeOpenAI, Script

__all__ = ["FakeOpenAI", "Script"]
