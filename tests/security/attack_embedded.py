"""Black-box attacks against a fresh `make run` (issue 13, items 1, 2, 3, 6 and 7). On demand:

    make security        (or: .venv/bin/python tests/security/attack_embedded.py [--no-make])

Starts `make run` on a fresh DATA_DIR and a free port (with `--no-make`, the same recipe without
make), attacks it from outside with httpx and websockets, and prints one line per attack with its
verdict, BLOCKED or VULNERABLE. Setup that an attacker would not do (a second admin account) goes
through manage.py on the same DATA_DIR; every attack itself is an HTTP or WebSocket request. A
second server with REDIS_URL pointing at a closed port plays "Redis down". Exit status: the number
of VULNERABLE lines (0 when everything is blocked). Not collected by pytest (not test_*.py).
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import jwt  # noqa: E402
import pyotp  # noqa: E402
import websockets  # noqa: E402

from tests.server_process import EmbeddedServer, free_port  # noqa: E402

# The signing key every `make run` used before keys were generated per installation.
OLD_DEFAULT_KEY = "insecure-embedded-mode-key-change-me-" + "x" * 20
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Adm1n-pass-" + os.urandom(6).hex()
SECOND_ADMIN_EMAIL = "second-admin@example.com"
SECOND_ADMIN_PASSWORD = "Sec0nd-pass-" + os.urandom(6).hex()
DEBUG_MARKERS = (
    "Traceback",
    "URLconf",
    "DEBUG = True",
    "Django settings",
    "Request Method:",
    "Exception Value",
)

verdicts: list[tuple[str, bool]] = []


def verdict(item: str, attack: str, vulnerable: bool, detail: str) -> None:
    verdicts.append((item, vulnerable))
    word = "VULNERABLE" if vulnerable else "BLOCKED"
    print(f"{word:10} item {item:2} {attack}: {detail}", flush=True)


def installation_key(server: EmbeddedServer) -> str | None:
    """The key the server generated into its DATA_DIR, if it generated one."""
    path = server.data_dir / "secret_key"
    return path.read_text().strip() if path.exists() else None


def forge_jwt(key: str, user_id: int, *, with_version: bool) -> str:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 3600,
        "iat": now,
        "jti": os.urandom(16).hex(),
        "user_id": user_id,
        "role": "admin",
    }
    if with_version:
        claims["ver"] = 0
    return jwt.encode(claims, key, algorithm="HS256")


def forge_signed(key: str, obj: dict, salt: str) -> str:
    from django.conf import settings
    from django.core import signing

    if not settings.configured:
        settings.configure()  # only so that django.core.signing can run here
    return signing.dumps(obj, key=key, salt=salt, compress=True)


def admin_login(client: httpx.Client, email: str, password: str, **extra: str) -> bool:
    """POST the console's login form like a browser; True when /admin/ then opens."""
    client.cookies.clear()
    page = client.get("/admin/login/?next=/admin/")
    csrf = client.cookies.get("csrftoken", "")
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    form = {
        "csrfmiddlewaretoken": match.group(1) if match else csrf,
        "username": email,
        "password": password,
        "next": "/admin/",
        **extra,
    }
    client.post("/admin/login/?next=/admin/", data=form, headers={"Referer": str(page.url)})
    console = client.get("/admin/", follow_redirects=False)
    return console.status_code == 200 and "logout" in console.text.lower()


# --- item 1: forgeable tokens ---------------------------------------------------------------


def attack_forged_tokens(server: EmbeddedServer, api: httpx.Client) -> None:
    admin_id = 1
    for with_version, label in ((True, "with every claim"), (False, "without the ver claim")):
        token = forge_jwt(OLD_DEFAULT_KEY, admin_id, with_version=with_version)
        status = api.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        verdict(
            "1",
            f"admin JWT forged with the old default key, {label}",
            status.status_code == 200,
            f"GET /api/v1/users/ -> {status.status_code}",
        )
    # The installation's own key (read from its DATA_DIR, as a leaked key would be): a token it
    # did not issue, without ``ver``, must still be refused.
    key = installation_key(server) or OLD_DEFAULT_KEY
    token = forge_jwt(key, admin_id, with_version=False)
    status = api.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    verdict(
        "1",
        "admin JWT without the ver claim, signed with the real key",
        status.status_code == 200,
        f"GET /api/v1/users/ -> {status.status_code}",
    )
    # An email verification link forged for a fresh account.
    email = f"victim-{os.urandom(3).hex()}@example.com"
    registered = api.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "username": email.split("@")[0],
            "full_name": "Victim",
            "password": "Vict1m-pass-" + os.urandom(4).hex(),
        },
    )
    if registered.status_code != 201:
        verdict("1", "forged email verification token", True, f"register {registered.status_code}")
        return
    user_id = registered.json().get("id") or registered.json().get("user", {}).get("id")
    forged = forge_signed(
        OLD_DEFAULT_KEY, {"u": user_id, "e": email}, salt="accounts.email-verification"
    )
    answer = api.post("/api/v1/auth/email/verify", json={"token": forged})
    verdict(
        "1",
        "email verification token forged with the old default key",
        answer.status_code == 200,
        f"POST auth/email/verify -> {answer.status_code}",
    )
    path = server.data_dir / "secret_key"
    mode = oct(path.stat().st_mode & 0o777) if path.exists() else "missing"
    verdict("1", "generated key file is private", mode != "0o600", f"mode {mode}")


# --- item 6: debug pages --------------------------------------------------------------------


def _shows_internals(response: httpx.Response) -> str:
    return next((m for m in DEBUG_MARKERS if m in response.text), "")


def attack_debug_pages(api: httpx.Client, label: str = "") -> None:
    probes = [
        ("unknown /api/ route", lambda: api.get("/api/v1/no-such-route/")),
        ("unknown page", lambda: api.get("/no-such-page/")),
        (
            "deeply nested JSON",
            lambda: api.post(
                "/api/v1/auth/login",
                content="[" * 100_000 + "]" * 100_000,
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "nested JSON object",
            lambda: api.post(
                "/api/v1/auth/register",
                content='{"email":' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}",
                headers={"Content-Type": "application/json"},
            ),
        ),
        ("malformed JSON", lambda: api.post("/api/v1/auth/login", content=b"{\xff")),
    ]
    for name, probe in probes:
        response = probe()
        leak = _shows_internals(response)
        verdict(
            "6",
            f"{name}{label}",
            bool(leak),
            f"{response.status_code}" + (f", page shows {leak!r}" if leak else ", no internals"),
        )


def attack_redis_down() -> None:
    closed = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{closed}/0"}
    with EmbeddedServer(env=env) as server, httpx.Client(base_url=server.url, timeout=30) as api:
        for name, call in (
            (
                "login",
                lambda: api.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"}),
            ),
            ("health", lambda: api.get("/health/detailed")),
            ("unknown page", lambda: api.get("/no-such-page/")),
        ):
            response = call()
            leak = _shows_internals(response)
            verdict(
                "6",
                f"Redis down: {name}",
                bool(leak),
                f"{response.status_code}"
                + (f", page shows {leak!r}" if leak else ", no internals"),
            )


# --- item 2: the console without the second factor ------------------------------------------


def attack_admin_without_mfa(api: httpx.Client, console: httpx.Client) -> None:
    login = api.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if login.status_code != 200 or "access" not in login.json():
        verdict(
            "2",
            "admin console with the password only (TOTP on)",
            True,
            f"setup: login {login.status_code}",
        )
        return
    auth = {"Authorization": f"Bearer {login.json()['access']}"}
    enable = api.post("/api/v1/auth/mfa/enable", json={"password": ADMIN_PASSWORD}, headers=auth)
    secret = enable.json().get("secret", "")
    confirm = api.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": pyotp.TOTP(secret).now(), "password": ADMIN_PASSWORD},
        headers=auth,
    )
    if confirm.status_code != 200:
        verdict(
            "2",
            "admin console with the password only (TOTP on)",
            True,
            f"setup: MFA {confirm.status_code}",
        )
        return
    entered = admin_login(console, ADMIN_EMAIL, ADMIN_PASSWORD)
    verdict(
        "2",
        "admin console with the password only (TOTP on)",
        entered,
        "/admin/ opened" if entered else "/admin/ refused without the code",
    )


# --- item 3: brute force on the console -----------------------------------------------------


def create_second_admin(server: EmbeddedServer) -> None:
    env = {
        **server.env,
        "DEFAULT_ADMIN_EMAIL": SECOND_ADMIN_EMAIL,
        "DEFAULT_ADMIN_PASSWORD": SECOND_ADMIN_PASSWORD,
    }
    subprocess.run(
        [sys.executable, "manage.py", "create_default_admin"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def attack_admin_brute_force(
    server: EmbeddedServer, console: httpx.Client, api: httpx.Client
) -> None:
    create_second_admin(server)
    for n in range(40):
        admin_login(console, SECOND_ADMIN_EMAIL, f"wrong-password-{n}")
    api_answer = api.post(
        "/api/v1/auth/login", json={"email": SECOND_ADMIN_EMAIL, "password": SECOND_ADMIN_PASSWORD}
    )
    entered = admin_login(console, SECOND_ADMIN_EMAIL, SECOND_ADMIN_PASSWORD)
    verdict(
        "3",
        "40 wrong admin passwords, then the right one",
        entered,
        ("/admin/ opened" if entered else "/admin/ refused")
        + f" (API login meanwhile: {api_answer.status_code})",
    )


# --- item 7: secrets in the server's own output ---------------------------------------------


async def _websocket_with_query_token(server: EmbeddedServer, secret: str) -> None:
    url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={secret}"
    with contextlib.suppress(Exception):
        async with websockets.connect(url, origin=server.url, open_timeout=10) as socket:
            await socket.send(json.dumps({"type": "auth", "token": secret}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.recv(), 5)


def send_secrets(server: EmbeddedServer, api: httpx.Client) -> dict[str, str]:
    secrets = {
        name: f"{name[:3].upper()}{os.urandom(5).hex()}"
        for name in ("token", "refresh_token", "password", "api_key", "reset", "bearer", "ws")
    }
    api.get(f"/api/v1/users/me?token={secrets['token']}&page=1")
    api.post(
        f"/api/v1/auth/refresh?refresh_token={secrets['refresh_token']}",
        json={"refresh": secrets["refresh_token"]},
    )
    api.post(
        f"/api/v1/auth/login?password={secrets['password']}",
        json={"email": "nobody@example.com", "password": secrets["password"]},
    )
    api.get(f"/no-such-page/?api_key={secrets['api_key']}")
    api.get(f"/?reset={secrets['reset']}")
    api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secrets['bearer']}"})
    asyncio.run(_websocket_with_query_token(server, secrets["ws"]))
    return secrets


def judge_output(server: EmbeddedServer, secrets: dict[str, str]) -> None:
    output = server.output()
    for name, value in secrets.items():
        verdict(
            "7",
            f"secret in the query/header ({name}) in the server output",
            value in output,
            "printed" if value in output else "not printed",
        )
    key = installation_key(server)
    if key is not None:
        printed = key in output
        verdict(
            "7",
            "the generated signing key in the server output",
            printed,
            "printed" if printed else "not printed",
        )
    for password in (ADMIN_PASSWORD, SECOND_ADMIN_PASSWORD):
        if password in output:
            verdict("7", "an admin password in the server output", True, "printed")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-make", action="store_true", help="run make run's recipe directly")
    args = parser.parse_args()
    env = {"DEFAULT_ADMIN_EMAIL": ADMIN_EMAIL, "DEFAULT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    server = EmbeddedServer(use_make=not args.no_make, env=env)
    print(
        f"Starting {'make run' if server.use_make else 'the make run recipe'} on {server.url}, "
        f"DATA_DIR={server.data_dir}",
        flush=True,
    )
    try:
        server.start()
        with (
            httpx.Client(base_url=server.url, timeout=60) as api,
            httpx.Client(base_url=server.url, timeout=60) as console,
        ):
            attack_forged_tokens(server, api)
            attack_debug_pages(api)
            secrets = send_secrets(server, api)
            attack_admin_without_mfa(api, console)
            attack_admin_brute_force(server, console, api)
        server.stop()
        judge_output(server, secrets)
        attack_redis_down()
    finally:
        server.cleanup()
    vulnerable = sum(1 for _, bad in verdicts if bad)
    print(f"{len(verdicts)} attacks: {len(verdicts) - vulnerable} BLOCKED, {vulnerable} VULNERABLE")
    return vulnerable


if __name__ == "__main__":
    sys.exit(main())
