"""The embedded vector store in a multi-process layout, with real server processes.

Two Daphne servers share one ``DATA_DIR`` (SQLite and Qdrant Edge, the embedded defaults).
The first one indexes a document and holds the index folder's lock; the second one answers
searches, chats and readiness with a clear 503 naming ``QDRANT_URL`` (never a 500), a
management command run beside them stops with the same advice, and the first server keeps
answering from files nobody else touched.

It starts and ends its own processes (helpers in ``tests/multiprocess/processes.py``).
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.multiprocess.processes import REPO, Server, embedded_env, migrate

# Real processes on a shared 2-core machine: far more than the suite's default per-test timeout.
pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(600)]

PASSWORD = "lantern-harbor-92"
NOTES = b"The spare key of the depot is kept under the blue lantern by the harbor gate."


def _index_files(folder: Path) -> dict[str, int]:
    """Every file of the index with its size (the lock file's content is the holder's pid)."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _settled_index_files(folder: Path) -> dict[str, int]:
    """The index once the owner's background optimizer has stopped rewriting it."""
    previous = _index_files(folder)
    for _ in range(100):
        time.sleep(0.2)
        current = _index_files(folder)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the index kept changing")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    migrate(embedded_env(folder))
    yield folder


def _login(url: str) -> dict[str, str]:
    email = "owner@example.com"
    registered = httpx.post(
        url + "/api/v1/auth/register",
        json={"email": email, "username": "owner", "full_name": "Owner", "password": PASSWORD},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(
        url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access']}"}


def _upload_ready(url: str, headers: dict[str, str]) -> None:
    response = httpx.post(
        url + "/api/v1/documents",
        files={"file": ("notes.txt", NOTES, "text/plain")},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    document_url = f"{url}/api/v1/documents/{response.json()['id']}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = httpx.get(document_url, headers=headers, timeout=10).json()["status"]
        if status in ("ready", "failed"):
            break
        time.sleep(0.2)  # waiting for the background ingestion, not synchronising a test
    assert status == "ready"


def _search(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        url + "/api/v1/search", json={"query": "spare key lantern"}, headers=headers, timeout=30
    )


def test_second_process_gets_a_clear_error_and_the_owner_keeps_working(data_dir, tmp_path):
    env = embedded_env(data_dir)
    owner = Server(env, tmp_path / "owner.log")
    second = None
    try:
        headers = _login(owner.url)
        _upload_ready(owner.url, headers)
        found = _search(owner.url, headers)
        assert found.status_code == 200, found.text
        assert found.json() and "blue lantern" in found.json()[0]["text"]
        index = data_dir / "qdrant"
        before = _settled_index_files(index)

        second = Server(env, tmp_path / "second.log")
        refused = _search(second.url, headers)
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["code"] == "VECTOR_STORE_UNAVAILABLE"
        assert "QDRANT_URL" in body["message"]
        chat = httpx.post(
            second.url + "/api/v1/chat/message",
            json={"message": "Where is the spare key?"},
            headers=headers,
            timeout=30,
        )
        assert chat.status_code == 503, chat.text
        assert "QDRANT_URL" in chat.json()["message"]
        readiness = httpx.get(second.url + "/health/detailed", timeout=30)
        assert readiness.status_code == 503
        assert "qdrant" in readiness.json()["failing"]

        # A management command beside the server stops with the same advice.
        command = subprocess.run(
            [sys.executable, "manage.py", "ingest", "--resume"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert command.returncode != 0
        assert "QDRANT_URL" in command.stderr

        # The owner's files are exactly as they were, and it still answers from them.
        assert _index_files(index) == before
        again = _search(owner.url, headers)
        assert again.status_code == 200, again.text
        assert again.json() == found.json()
        assert (
            httpx.get(owner.url + "/health/detailed", timeout=30).json()["checks"]["qdrant"][
                "status"
            ]
            == "up"
        )
    finally:
        if second is not None:
            second.stop()
        owner.stop()
