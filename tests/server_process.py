"""A real embedded server in its own process, started the way ``make run`` starts it.

Used by the server-process tests, the body-limit benchmark and the black-box security script:
a fresh ``DATA_DIR``, a free port, no secret key or debug flag from the caller's environment, the
scaled-mode variables removed (the embedded mode is what a fresh clone's ``make run`` serves),
stdout and stderr captured to one file, and the process group ended by its id afterwards.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Variables that would turn the embedded mode into something else, or weaken it.
_DROPPED = (
    "DJANGO_SECRET_KEY",
    "JWT_SIGNING_KEY",
    "DJANGO_DEBUG",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "QDRANT_URL",
    "QDRANT_HOST",
    "TEST_EMAIL_BACKEND",
    "TEST_EMAIL_FILE_PATH",
    "PYTEST_CURRENT_TEST",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """``with EmbeddedServer() as server: ...``; ``server.output()`` is all it printed."""

    def __init__(
        self,
        *,
        use_make: bool = False,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
        server_argv: list[str] | None = None,
    ) -> None:
        self.use_make = use_make
        # Another server for comparisons (e.g. Daphne in the body-limit benchmark).
        self.server_argv = server_argv
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="aichat-server-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server-output.log"
        self.env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            DATA_DIR=str(self.data_dir),
            HOST="127.0.0.1",
            PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            **(env or {}),
        )
        self.process: subprocess.Popen | None = None

    def _command(self) -> list[str]:
        if self.use_make:
            return ["make", "--no-print-directory", "run"]
        # The recipe of `make run` without make: migrations, the default admin, the server.
        python = sys.executable
        serve = " ".join(
            self.server_argv
            or [python, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(self.port)]
        )
        return [
            "sh",
            "-c",
            f"{python} manage.py migrate --noinput -v0 && {python} manage.py create_default_admin"
            f" && exec {serve}",
        ]

    def start(self, timeout: float = 120.0) -> "EmbeddedServer":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: ended as one below
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.output()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # it answers (503 with a dependency down is still an answer)
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)  # polling the port while the server boots
        self.stop()
        raise RuntimeError(f"the server did not answer in {timeout} s:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def server_pid(self) -> int:
        """The pid of the Python server process itself (under ``sh``/``make``)."""
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.process.pid), "-f", "config.serve|daphne"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        pids = [int(p) for p in out if int(p) != self.process.pid]
        return pids[-1] if pids else self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "EmbeddedServer":
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # __exit__ does not run when __enter__ raises
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
