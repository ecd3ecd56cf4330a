"""A real server for the contract checks: Daphne in its own process, as ``make run`` starts it.

Embedded mode on a free port with a fresh ``DATA_DIR`` (SQLite, Qdrant Edge, in-memory layers,
offline provider, eager tasks), migrated, with an admin account. Used by ``client_flow.py`` and
``schemathesis_run.py`` (``make contract``); not collected by pytest.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "contract-admin@example.com"
ADMIN_PASSWORD = "contract admin passphrase 16"
START_TIMEOUT = 90


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    log_path: Path
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Always the embedded mode, whatever the calling shell points at.
        if key not in {"DATABASE_URL", "REDIS_URL", "QDRANT_URL", "CELERY_BROKER_URL"}
        and not key.startswith(("AZURE_OPENAI_", "OPENAI_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATA_DIR": str(data_dir),
            "AI_PROVIDER": "offline",
            "DEFAULT_ADMIN_EMAIL": ADMIN_EMAIL,
            "DEFAULT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log_path.read_text()[-4000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)  # polling the port while the server boots
    raise RuntimeError(
        f"daphne did not answer in {START_TIMEOUT} s:\n{log_path.read_text()[-4000:]}"
    )


@contextlib.contextmanager
def live_server(extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Start the server; stop it (by its own pid) and remove its data when done."""
    data_dir = Path(tempfile.mkdtemp(prefix="aichat-contract-"))
    env = server_env(data_dir, extra_env)
    python = sys.executable
    for command in (["migrate", "--noinput"], ["create_default_admin"]):
        subprocess.run(
            [python, "manage.py", *command],
            cwd=REPO,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    daphne = str(Path(python).with_name("daphne"))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url, process, log_path)
        yield LiveServer(url=url, data_dir=data_dir, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.environ.get("CONTRACT_KEEP_DATA"):
            print(f"server data and log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
