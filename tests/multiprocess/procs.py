"""Real server processes for multi-process tests: Daphne workers, Celery workers, the fake
upstream, ``manage.py`` commands, and a scratch PostgreSQL database they share.

Every process gets its own log file (shown when a test fails: :meth:`Proc.output`) and is
ended by its own PID (``stop``, or ``kill9`` to simulate a crash). Ports come from
``TEST_PORT_RANGE`` (``18500-18599``) when set, else from the operating system.
"""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Proc:
    """A child process with a log file; stopped by its own PID only."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"mp-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 8000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def kill9(self) -> None:
        """Die as in a crash: no cleanup, no goodbye."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 5) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, from ``TEST_PORT_RANGE`` (``low-high``) when set."""
    window = os.environ.get("TEST_PORT_RANGE", "")
    if window:
        low, high = (int(x) for x in window.split("-"))
        # From a random place in the window: two test processes rarely race for one port.
        start = random.randint(low, high)
        for port in [*range(start, high + 1), *range(low, start)]:
            if port not in _handed_out and _port_free(port):
                _handed_out.add(port)
                return port
        raise RuntimeError(f"no free port in TEST_PORT_RANGE={window}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: Proc | None = None, *, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200 (and fail early if ``proc`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s" + (proc.output() if proc else ""))


def wait_log(proc: Proc, text: str, *, timeout: float = 60) -> None:
    """Wait until ``text`` appears in the output of ``proc``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
        if text in proc.output(tail=10**7):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} never said {text!r}:\n{proc.output()}")


def _own_data_dir(env: dict[str, str], name: str) -> dict[str, str]:
    env = dict(env)
    # Each process its own DATA_DIR: the embedded vector engine is single-process.
    env["DATA_DIR"] = tempfile.mkdtemp(prefix=f"mp-{name}-")
    return env


def start_daphne(
    env: dict[str, str],
    port: int | None = None,
    *,
    name: str = "daphne",
    wait: bool = True,
    own_data_dir: bool = True,
) -> Proc:
    """A Daphne ASGI worker serving ``config.asgi`` on 127.0.0.1 (ready on return unless
    ``wait=False``: then call :func:`wait_http` on ``proc.url + "/health"``). It gets a fresh
    ``DATA_DIR`` unless ``own_data_dir=False`` (then ``env``'s, e.g. an embedded database)."""
    port = port or free_port()
    args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    proc = Proc(f"{name}-{port}", args, _own_data_dir(env, name) if own_data_dir else env)
    proc.port = port
    if wait:
        try:
            wait_http(f"{proc.url}/health", proc)
        except BaseException:
            proc.stop()
            raise
    return proc


def start_uvicorn(
    env: dict[str, str],
    port: int | None = None,
    *,
    name: str = "uvicorn",
    wait: bool = True,
    own_data_dir: bool = True,
) -> Proc:
    """The embedded server as deployed (``python -m config.serve``: uvicorn with the ASGI
    lifespan) on 127.0.0.1; otherwise as :func:`start_daphne`."""
    port = port or free_port()
    args = [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(f"{name}-{port}", args, _own_data_dir(env, name) if own_data_dir else env)
    proc.port = port
    if wait:
        try:
            wait_http(f"{proc.url}/health", proc)
        except BaseException:
            proc.stop()
            raise
    return proc


def start_daphnes(
    env: dict[str, str], count: int, *, name: str = "asgi", server: str = "daphne"
) -> list[Proc]:
    """``count`` ASGI workers (``server``: ``daphne`` or ``uvicorn``) started side by side
    (start-up is seconds each), all ready."""
    start = start_uvicorn if server == "uvicorn" else start_daphne
    procs = [start(env, name=f"{name}-{i}", wait=False) for i in range(count)]
    try:
        for proc in procs:
            wait_http(f"{proc.url}/health", proc)
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


def start_celery_worker(env: dict[str, str], *, name: str = "celery", queues: str = "") -> Proc:
    """A Celery worker (one process, prefork pool of 1) for ``env``'s broker, ready on return.

    ``env`` needs a real broker: ``DJANGO_SETTINGS_MODULE=config.settings.local`` (the test
    settings force eager tasks and an in-memory broker).
    """
    hostname = f"{name}-{uuid.uuid4().hex[:8]}@%h"
    args = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "-n",
        hostname,
    ]
    if queues:
        args += ["-Q", queues]
    proc = Proc(name, args, _own_data_dir(env, name))
    try:
        wait_log(proc, " ready.")
    except BaseException:
        proc.stop()
        raise
    return proc


def start_fake_openai(*, tokens: int = 20, delay: float = 0.0) -> tuple[Proc, str]:
    """The fake OpenAI-compatible server in its own process; returns it and its base URL.

    It streams ``tokens`` tokens ``delay`` seconds apart, or what a chat message
    ``"stream <tokens> <delay>"`` asks for.
    """
    port = free_port()
    args = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port)]
    args += ["--tokens", str(tokens), "--delay", str(delay), "--scripts-from-prompt"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    proc = Proc("fake-openai", args, env)
    proc.port = port
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"{proc.url}/v1"
        time.sleep(0.05)
    output = proc.output()
    proc.stop()
    raise RuntimeError(f"the fake OpenAI server did not start:\n{output}")


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``manage.py`` with ``env``; return its standard output (raises on failure)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


_NEW_USER = """
import json
from accounts.models import User
from accounts.tokens import issue_tokens
from metering.models import Quota
user = User.objects.create_user({email!r}, "mp-password-1234", is_verified=True)
Quota.objects.create(
    user=user, max_concurrent={concurrent}, daily_tokens=10**9, monthly_tokens=10**10
)
print(json.dumps({{"id": user.pk, "token": issue_tokens(user=user)["access"]}}))
"""


def create_user(env: dict[str, str], *, concurrent: int = 50) -> dict[str, Any]:
    """A verified user with a generous quota: ``{"id", "token"}`` (an access token)."""
    import json

    email = f"mp-{uuid.uuid4().hex[:10]}@example.com"
    out = manage(env, "shell", "-c", _NEW_USER.format(email=email, concurrent=concurrent))
    return json.loads(out.strip().splitlines()[-1])


_NEW_USERS = """
import json
from accounts.models import User
from accounts.tokens import issue_tokens
from metering.models import Quota
out = []
for email in {emails!r}:
    # No password: these users only use the token (hashing 1,000 passwords takes minutes).
    user = User.objects.create_user(email, None, is_verified=True)
    Quota.objects.create(
        user=user, max_concurrent={concurrent}, daily_tokens=10**9, monthly_tokens=10**10
    )
    out.append({{"id": user.pk, "token": issue_tokens(user=user)["access"]}})
print(json.dumps(out))
"""


def create_users(env: dict[str, str], count: int, *, concurrent: int = 50) -> list[dict[str, Any]]:
    """``count`` users as :func:`create_user` makes them, in one ``manage.py`` run."""
    import json

    emails = [f"mp-{uuid.uuid4().hex[:10]}@example.com" for _ in range(count)]
    script = _NEW_USERS.format(emails=emails, concurrent=concurrent)
    out = manage(env, "shell", "-c", script, timeout=600)
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database next to ``url``'s, dropped afterwards."""
    import psycopg

    parts = urlsplit(url)
    base = parts.path.lstrip("/") or "postgres"
    name = f"{base}_mp_{os.getpid()}_{uuid.uuid4().hex[:6]}".replace("-", "_")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
