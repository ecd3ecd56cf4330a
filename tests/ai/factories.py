"""Factories and fixtures for the documents tests: generated PDFs and a fresh vector store.

Import the fixtures into a test module to use them
(``from tests.ai.factories import vector_store_fixture  # noqa: F401``); they register as
``vector_store`` (both backends, parametrised) and ``edge_store``.
"""

import io
from collections.abc import Iterator, Sequence

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ai.vectorstore import get_vector_store, reset_vector_stores


def make_pdf(pages: Sequence[str], *, encrypt_password: str | None = None) -> bytes:
    """A real PDF with one page per text (fpdf2, core font, wrapped lines)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 5, text)
    if encrypt_password is not None:
        pdf.set_encryption(
            owner_password="owner-" + encrypt_password, user_password=encrypt_password
        )
    return bytes(pdf.output())


def make_zero_page_pdf() -> bytes:
    """A syntactically valid PDF whose page tree is empty (pypdf writes one)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


VOCABULARY = [
    *("ledger", "invoice", "harbor", "meadow", "copper", "lantern", "orchard", "violet"),
    *("summit", "canyon", "river", "glacier", "maple", "tundra", "beacon", "quarry"),
    *("falcon", "velvet", "amber", "cobalt"),
]


def lorem_page(page: int, words: int = 180) -> str:
    vocabulary = VOCABULARY
    return " ".join(vocabulary[(page * 7 + i) % len(vocabulary)] for i in range(words))


@pytest.fixture(name="vector_store", params=["edge", "client"])
def vector_store_fixture(request, settings, tmp_path) -> Iterator[object]:
    """A fresh, empty vector store for the test: Qdrant Edge in a temp folder, or
    qdrant-client's local mode in memory (the server backend's code path)."""
    reset_vector_stores()
    settings.QDRANT_PATH = tmp_path / "qdrant"
    settings.QDRANT_BACKEND = request.param
    settings.QDRANT_LOCATION = ":memory:" if request.param == "client" else ""
    settings.MEDIA_ROOT = tmp_path / "media"
    store = get_vector_store()
    yield store
    reset_vector_stores()


@pytest.fixture(name="edge_store")
def edge_store_fixture(settings, tmp_path) -> Iterator[object]:
    """Only the embedded backend (tests that don't need both)."""
    reset_vector_stores()
    settings.QDRANT_PATH = tmp_path / "qdrant"
    settings.QDRANT_BACKEND = "edge"
    settings.QDRANT_LOCATION = ""
    settings.MEDIA_ROOT = tmp_path / "media"
    store = get_vector_store()
    yield store
    reset_vector_stores()
