"""End-to-end fixtures: a real server, the fake model server and headless Chromium.

The server is a separate process started exactly as ``make run`` starts the product (``python -m
config.serve``), on a free port, with its own fresh database (an SQLite file, or a
scratch PostgreSQL database named after ``DATABASE_URL`` when the suite runs on PostgreSQL), the
in-memory channel layer, eager tasks, and ``AI_PROVIDER=openai`` pointed at the local fake
OpenAI-compatible server that this process runs and scripts. A separate process (rather than a
thread sharing pytest-django's test database) is what lets the page, the WebSocket and the
background generation all hit one real database on SQLite too, whose test database is in-memory.

Every test here is marked ``e2e``; all of them are skipped, with the reason, when Chromium is not
installed at ``/usr/bin/chromium`` (nothing ever downloads a browser).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fakes import FakeOpenAI

# Debian's Chromium; E2E_CHROMIUM points elsewhere (another distribution's binary).
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "e2e"
E2E_DIR = Path(__file__).resolve().parent
SKIP_REASON = f"end-to-end tests need Chromium at {CHROMIUM} (apt-get install chromium)"
ADMIN_EMAIL = "e2e-admin@example.com"
ADMIN_PASSWORD = "admin-e2e-Passw0rd!"
USER_PASSWORD = "correct horse battery staple 42"
# Explicit waits for DOM states; generous because the machine is shared.
EXPECT_TIMEOUT_MS = 20_000

# The page tracks nothing for tests; this init script (injected by the browser, not served)
# records every WebSocket the page opens so a test can cut the connection like a network drop.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  const sockets = [];
  class TrackedWebSocket extends Native {
    constructor(...args) { super(...args); sockets.push(this); }
  }
  window.WebSocket = TrackedWebSocket;
  window.__e2eSockets = sockets;
})();
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests (those using the live server) are ``e2e``; skipped without Chromium."""
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if E2E_DIR not in Path(str(item.fspath)).parents:
            continue
        if "e2e_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(skip)


# --- The live server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scratch_postgres(database_url: str) -> tuple[str, str]:
    """A fresh PostgreSQL database next to the suite's own: (its URL, its name)."""
    import psycopg

    parts = urlsplit(database_url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_e2e"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), admin_url


def _drop_postgres(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    url: str
    fake: FakeOpenAI
    log_path: Path
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    extra: dict = field(default_factory=dict)
    mail_dir: Path | None = None

    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/chat/"


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)  # polling the port while the server boots, not test synchronisation
    raise RuntimeError(f"the server did not answer within 60 s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    """The session's fake OpenAI-compatible server (the root ``fake_openai`` is per test)."""
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def e2e_server(fake_model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory):
    """Migrate a fresh database, create an admin, start Daphne; yield its address."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    data_dir = tmp_path_factory.mktemp("e2e-data")
    log_path = SCREENSHOTS / "server.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "QDRANT_URL", "QDRANT_HOST", "CELERY_BROKER_URL"}
        and not key.startswith(("AZURE_OPENAI_", "OPENAI_", "PYTEST_"))
    }
    database_url = os.environ.get("DATABASE_URL", "")
    scratch: tuple[str, str] | None = None
    if database_url.startswith(("postgres://", "postgresql://")):
        url, admin_url = _scratch_postgres(database_url)
        scratch = (admin_url, urlsplit(url).path.lstrip("/"))
        env["DATABASE_URL"] = url
    else:
        env["DATABASE_URL"] = f"sqlite:///{data_dir / 'e2e.sqlite3'}"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            "AI_PROVIDER": "openai",
            "OPENAI_BASE_URL": fake_model.base_url,
            "OPENAI_API_KEY": "e2e-test-key",
            "OPENAI_CHAT_MODEL": "fake-chat",
            "OPENAI_EMBEDDING_MODEL": "fake-embed",
            # The chat page's model picker offers these (the fake answers for any name).
            "AI_ALLOWED_MODELS": "fake-chat,fake-chat-large",
            # Several users sign up from 127.0.0.1 within a minute in this run.
            "THROTTLE_REGISTER": "1000/hour",
            "THROTTLE_LOGIN_IP": "1000/min",
            "THROTTLE_MFA_IP": "1000/min",
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            # User deletion runs on the server's background thread, as in embedded mode.
            "USER_DELETION_RUNNER": "thread",
            "LOG_LEVEL": "INFO",
            # Mails land as files the tests read (password reset and friends).
            "TEST_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "TEST_EMAIL_FILE_PATH": str(data_dir / "mail"),
        }
    )
    manage = [sys.executable, str(REPO / "manage.py")]
    with log_path.open("w") as log:
        for command in (
            ["migrate", "--noinput"],
            ["createsuperuser", "--noinput", "--email", ADMIN_EMAIL, "--username", "e2e-admin"],
        ):
            subprocess.run(
                manage + command, cwd=REPO, env=env, stdout=log, stderr=log, check=True, timeout=180
            )
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log_path)
        yield LiveServer(url=url, fake=fake_model, log_path=log_path, mail_dir=data_dir / "mail")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if scratch:
            _drop_postgres(*scratch)
        shutil.rmtree(data_dir, ignore_errors=True)


# --- The browser ----------------------------------------------------------------------------------


# Package scope: Playwright's sync API keeps an event loop running in the test thread until it
# exits, and later async tests (tests/multiprocess) need that thread's loop free.
@pytest.fixture(scope="package")
def browser(e2e_server: LiveServer):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class PageProblems:
    """Uncaught script errors and CSP violations of a page: a test fails on either."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )


@pytest.fixture
def new_page(browser, e2e_server: LiveServer):
    """A factory of fresh pages, each in its own browser context (own storage, own login)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    contexts = []
    problems: list[PageProblems] = []

    def make(*, width: int = 1280, height: int = 800):
        context = browser.new_context(
            base_url=e2e_server.url,
            viewport={"width": width, "height": height},
            # No animations: screenshots show end states, not transitions.
            reduced_motion="reduce",
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        context.add_init_script(TRACK_SOCKETS)
        contexts.append(context)
        page = context.new_page()
        # Confirmation dialogs (delete chat / document) are accepted.
        page.on("dialog", lambda dialog: dialog.accept())
        problems.append(PageProblems(page))
        return page

    yield make
    for context in contexts:
        context.close()
    errors = [error for p in problems for error in p.errors]
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


@pytest.fixture
def page(new_page):
    return new_page()


def shot(page, name: str) -> Path:
    """Save the page's current state as var/e2e/<name>.png for a person to look at."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def register_api(server: LiveServer, page, *, prefix: str) -> str:
    """Sign a user up through the API (the UI path has its own test); return the email."""
    email = unique_email(prefix)
    response = page.request.post(
        f"{server.url}/api/v1/auth/register",
        data={
            "email": email,
            "username": email.split("@")[0],
            "full_name": prefix.title(),
            "password": USER_PASSWORD,
        },
    )
    assert response.status == 201, response.text()
    return email


def login_ui(page, email: str, password: str = USER_PASSWORD) -> None:
    """Log in through the form and wait for the chat view."""
    from playwright.sync_api import expect

    page.goto("/")
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#app-view")).to_be_visible()
