"""Deciding what a file is from its bytes, and getting its text out page by page.

Everything that can go wrong with a user's file raises :class:`ExtractionError` with a plain
sentence for the user; nothing here lets a malformed file take the worker down.
"""

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from pypdf import PageObject, PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

from documents.models import DocumentType

# Magic numbers of formats people commonly rename to .pdf or .txt; named in the error.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"RIFF", "a RIFF media file"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
)
_MARKDOWN = re.compile(
    r"^(#{1,6}\s+\S|```|~~~|\s*[-*+]\s+\[[ xX]\]|\|.+\|\s*$|>\s+\S)|\[[^\]]+\]\([^)]+\)",
    re.MULTILINE,
)


class ExtractionError(Exception):
    """The file cannot be turned into text; ``str(exc)`` is the reason shown to the user."""


class UnsupportedFileError(ExtractionError):
    pass


class IngestTimeoutError(ExtractionError):
    pass


@dataclass(frozen=True)
class PageText:
    page: int  # 1-based
    text: str


def detect_file_type(head: bytes, *, decoded_text: str | None = None) -> str:
    """PDF by its ``%PDF-`` header; otherwise UTF-8 text without NULs, Markdown when it
    looks like Markdown. Anything else raises :class:`UnsupportedFileError`."""
    # The PDF header may follow a little junk; readers accept it within the first KiB.
    if b"%PDF-" in head[:1024]:
        return DocumentType.PDF
    for signature, name in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise UnsupportedFileError(
                f"The file is {name}. Only PDF, plain text and Markdown files are accepted."
            )
    if decoded_text is None:
        raise UnsupportedFileError("Only PDF, plain text and Markdown files are accepted.")
    return DocumentType.MARKDOWN if _MARKDOWN.search(decoded_text[:200_000]) else DocumentType.TEXT


def decode_text(data: bytes) -> str | None:
    """The text of a UTF-8 file (BOM dropped), or None when it is not text."""
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    # Control characters other than whitespace mean a binary file that happens to decode.
    controls = sum(1 for ch in text[:100_000] if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > max(8, len(text[:100_000]) // 100):
        return None
    return text


def pdf_page_count(data: bytes) -> int | None:
    """Pages of a PDF, or None when the file cannot be read without decrypting or repairing
    it (the pipeline then fails it with the precise reason)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return None
        return len(reader.pages)
    except Exception:  # noqa: BLE001 - any failure here is reported precisely by the pipeline
        return None


@dataclass(frozen=True)
class ExtractionLimits:
    """What one file may cost. ``max_content_bytes`` bounds the decoded page content pypdf
    parses, summed over pages: pages that all reuse one large content stream parse it once
    each, so an 18 KB file can otherwise mean 100 MB of parsing."""

    max_pages: int
    max_chars: int  # extracted characters of the whole file
    max_page_chars: int  # extracted characters of one PDF page
    max_content_bytes: int
    deadline: float | None = None  # time.monotonic() value
    cpu_deadline: float | None = None  # time.thread_time() value of the ingesting thread


class IngestCpuLimitError(ExtractionError):
    pass


def check_time(limits: ExtractionLimits) -> None:
    """Raise when the document's wall-clock or CPU budget is used up."""
    if limits.deadline is not None and time.monotonic() > limits.deadline:
        raise IngestTimeoutError("Processing took longer than the time limit for one document.")
    if limits.cpu_deadline is not None and time.thread_time() > limits.cpu_deadline:
        raise IngestCpuLimitError(
            "Processing used more CPU time than a file of this size may; the file looks "
            "malformed. Try exporting it again."
        )


def extract_pages(
    data: bytes,
    file_type: str,
    *,
    limits: ExtractionLimits,
    on_page: Callable[[int, int], None] | None = None,
) -> list[PageText]:
    """Text of each page. Text files are split into pages at form feeds (else one page)."""
    if file_type == DocumentType.PDF:
        return _extract_pdf(data, limits=limits, on_page=on_page)
    text = decode_text(data)
    if text is None:
        raise UnsupportedFileError("The file is not valid UTF-8 text.")
    if len(text) > limits.max_chars:
        raise ExtractionError(
            f"The text is longer than the limit of {limits.max_chars:,} characters."
        )
    parts = text.split("\f")
    return [PageText(page=i + 1, text=part) for i, part in enumerate(parts)]


def _content_bytes(page: PageObject) -> int:
    """Decoded size of the page's content stream(s): what text extraction will parse."""
    contents = page.get_contents()
    return len(contents.get_data()) if contents is not None else 0


def _extract_pdf(
    data: bytes, *, limits: ExtractionLimits, on_page: Callable[[int, int], None] | None
) -> list[PageText]:
    # pypdf's decompression, object-size and form-invocation limits (pypdf.Configuration
    # defaults) stay on: a zip bomb raises LimitReachedError (a PyPdfError) instead of eating
    # the memory.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An empty user password is common (printing restrictions only): try it.
            try:
                if not reader.decrypt(""):
                    raise FileNotDecryptedError("password required")
            except Exception as exc:
                raise ExtractionError(
                    "The PDF is encrypted (password-protected). Upload an unprotected copy."
                ) from exc
        total = len(reader.pages)
    except ExtractionError:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionError(
            "The PDF is encrypted (password-protected). Upload an unprotected copy."
        ) from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError("The PDF is damaged or not a valid PDF file.") from exc
    except RecursionError as exc:
        raise ExtractionError("The PDF's structure is too deeply nested to read.") from exc
    if total == 0:
        raise ExtractionError("The PDF has no pages.")
    if total > limits.max_pages:
        raise ExtractionError(f"The PDF has {total} pages; the limit is {limits.max_pages}.")
    pages: list[PageText] = []
    chars = 0
    content = 0
    for index in range(total):
        check_time(limits)
        number = index + 1
        try:
            page = reader.pages[index]
            # Measured before parsing: the budget refuses the expensive page, not after it.
            content += _content_bytes(page)
            if content > limits.max_content_bytes:
                raise ExtractionError(
                    f"The PDF's pages (up to page {number}) hold more than "
                    f"{_size(limits.max_content_bytes)} of drawing instructions, "
                    f"far more than a {_size(len(data))} file can; it looks malformed "
                    "(pages reusing one huge content stream?). Try exporting it again."
                )
            text = page.extract_text() or ""
        except ExtractionError:
            raise
        except RecursionError as exc:
            raise ExtractionError(f"Page {number} is too deeply nested to read.") from exc
        except MemoryError as exc:
            raise ExtractionError(f"Page {number} is too large to read.") from exc
        except Exception as exc:
            # pypdf raises many kinds on broken content streams; the page number is what
            # helps the user.
            raise ExtractionError(f"Page {number} of the PDF could not be read.") from exc
        if len(text) > limits.max_page_chars:
            raise ExtractionError(
                f"Page {number} has {len(text):,} characters of text; a page may have at most "
                f"{limits.max_page_chars:,}. The file looks malformed."
            )
        chars += len(text)
        if chars > limits.max_chars:
            raise ExtractionError(
                f"The PDF's text is longer than the limit of {limits.max_chars:,} characters "
                f"for a {_size(len(data))} file."
            )
        pages.append(PageText(page=number, text=text))
        if on_page is not None:
            on_page(number, total)
    return pages


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"
