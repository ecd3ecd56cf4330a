"""Real processes for multi-process and outage tests: Daphne servers and a private redis-server,
each on a free port of its own and ended by its pid."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data_dir: Path) -> dict[str, str]:
    """The embedded layout (SQLite, in-memory layers, Qdrant Edge, offline provider) in
    ``data_dir``, whatever the environment of the test run says."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "QDRANT_", "CELERY_", "PYTEST_"))
        and not key.startswith(("AZURE_OPENAI_", "OPENAI_", "AI_PROVIDER"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        PYTHONUNBUFFERED="1",
        THROTTLE_REGISTER="1000/hour",
        THROTTLE_LOGIN_IP="1000/min",
    )
    return env


class Server:
    """One Daphne process on a free port; ended by its pid."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            [*daphne, "config.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180  # a loaded machine boots slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # polling the port while the server boots
        self.stop()
        raise RuntimeError(f"daphne did not start:\n{log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


_MIGRATED_TEMPLATE: dict[str, Path] = {}


def migrate(env: dict[str, str]) -> None:
    """Give ``env``'s SQLite database (in its ``DATA_DIR``) every migration.

    The first call of the test run migrates a template once; later calls copy its file, which
    saves a ``manage.py migrate`` per test.
    """
    target = Path(env["DATA_DIR"]) / "db.sqlite3"
    assert env["DATABASE_URL"] == f"sqlite:///{target}", "migrate() serves embedded_env() only"
    template = _MIGRATED_TEMPLATE.get("db")
    if template is None:
        folder = Path(tempfile.mkdtemp(prefix="multiprocess-db-"))
        template = folder / "db.sqlite3"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env={**env, "DATA_DIR": str(folder), "DATABASE_URL": f"sqlite:///{template}"},
            check=True,
            capture_output=True,
            timeout=600,
        )
        _MIGRATED_TEMPLATE["db"] = template
    shutil.copyfile(template, target)


class RedisServer:
    """A private redis-server (never the shared one): stopped and started again on one port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), *options, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)  # waiting for the server to listen
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
