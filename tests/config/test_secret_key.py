"""The embedded mode's signing key: generated into DATA_DIR, private, reused, never a constant."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.secret import embedded_secret_key

ROOT = Path(__file__).resolve().parents[2]
# The key every `make run` signed with before keys were generated (issue 13, item 1).
OLD_DEFAULT_KEY = "insecure-embedded-mode-key-change-me-" + "x" * 20


def test_key_file_is_created_private_and_reused(tmp_path):
    key = embedded_secret_key(tmp_path)
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 50 and key != OLD_DEFAULT_KEY
    assert embedded_secret_key(tmp_path) == key  # a restart keeps every session valid
    other = tmp_path / "other"
    other.mkdir()
    assert embedded_secret_key(other) != key  # each installation its own key
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_readable_key_file_is_made_private(tmp_path):
    key = embedded_secret_key(tmp_path)
    path = tmp_path / "secret_key"
    os.chmod(path, 0o644)
    assert embedded_secret_key(tmp_path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_empty_key_file_is_refused(tmp_path):
    (tmp_path / "secret_key").write_text("short")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        embedded_secret_key(tmp_path)


_PROBE = """
import django
django.setup()
import jwt
from django.conf import settings
from django.core import signing
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

forged = jwt.encode(
    {"token_type": "access", "exp": 4102444800, "iat": 1700000000, "jti": "f" * 32,
     "user_id": 1, "role": "admin", "ver": 0},
    sys.argv[1], algorithm="HS256",
)
try:
    AccessToken(forged)
    print("JWT_ACCEPTED")
except TokenError:
    print("JWT_REFUSED")
verify = signing.dumps({"u": 1, "e": "admin@example.com"}, key=sys.argv[1],
                       salt="accounts.email-verification", compress=True)
try:
    signing.loads(verify, salt="accounts.email-verification")
    print("SIGNED_ACCEPTED")
except signing.BadSignature:
    print("SIGNED_REFUSED")
print("DEBUG", settings.DEBUG)
print("KEYFILE", settings.SECRET_KEY == open(sys.argv[2]).read().strip())
"""


def _embedded_settings_probe(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG"}}
    env.pop("JWT_SIGNING_KEY", None)
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DATA_DIR=str(data_dir))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n" + _PROBE,
            OLD_DEFAULT_KEY,
            str(data_dir / "secret_key"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_embedded_mode_refuses_tokens_signed_with_the_old_default_key(tmp_path):
    out = _embedded_settings_probe(tmp_path)
    assert "JWT_REFUSED" in out and "SIGNED_REFUSED" in out, out
    assert "KEYFILE True" in out, out  # signs with the generated key
    assert "DEBUG False" in out, out  # `make run` is safe to expose (item 6)
    key = (tmp_path / "secret_key").read_text().strip()
    assert key not in out


def test_production_settings_refuse_to_start_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="example.com",
        DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # never falls back to a generated key
