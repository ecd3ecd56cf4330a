"""OpenAPI schema, deploy checks, security headers, admin console and docs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "openapi:" in out.read_text()


def test_schema_and_docs_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower(), "Swagger UI assets must be served locally"
    redoc = client.get("/api/redoc/")
    assert redoc.status_code == 200


def test_browsable_api_root(client):
    response = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"schema" in response.content


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x7Gk2pQ9vL4mN8rT1wY6zB3cF5hJ0sD2aE9uI4oP7lK1qW3eR6tY8uI0oP2aS4dF",
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        QDRANT_URL="http://qdrant.internal:6333",
    )
    env.update(extra)
    return env


def test_check_deploy_passes_for_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secret():
    env = _production_env()
    env.pop("DJANGO_SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_security_headers(client):
    response = client.get("/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_cors_only_for_listed_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    ok = client.get("/api/v1/", HTTP_ORIGIN="https://app.example.com")
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = client.get("/api/v1/", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other


def test_admin_login_page_and_static(client):
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert b"AI Chat administration" in page.content


def test_admin_css_served_by_whitenoise_under_asgi():
    """Daphne has no static handler: WhiteNoise must serve the admin CSS through the app."""
    import asyncio

    from config.asgi import application

    async def fetch() -> tuple[int, bytes]:
        sent: list[dict] = []
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/static/admin/css/base.css",
            "raw_path": b"/static/admin/css/base.css",
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
            "server": ("localhost", 80),
            "client": ("127.0.0.1", 5000),
            "scheme": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "root_path": "",
        }

        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {}

        async def send(message: dict) -> None:
            sent.append(message)

        await application(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], body

    status, body = asyncio.run(fetch())
    assert status == 200
    assert b"body" in body


def test_all_embedded_data_lives_under_data_dir(tmp_path):
    """A second copy runs beside the first by pointing DATA_DIR elsewhere."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DATA_DIR=str(tmp_path / "copy2"))
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['NAME']); print(s.MEDIA_ROOT); print(s.QDRANT_PATH); "
        "print(s.STATIC_ROOT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert len(paths) == 4
    for path in paths:
        assert path.startswith(str(tmp_path / "copy2")), path


def test_scaled_mode_is_switched_by_environment_only(tmp_path):
    """DATABASE_URL / REDIS_URL / QDRANT_URL turn on PostgreSQL+pool, Redis layers and workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://u:p@db.internal:5432/chat",
        REDIS_URL="redis://cache.internal:6379/2",
        QDRANT_HOST="qdrant.internal",
    )
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
        "'pool': s.DATABASES['default']['OPTIONS'].get('pool') is not None, "
        "'cache': s.CACHES['default']['BACKEND'], "
        "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], "
        "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': s.CELERY_BROKER_URL, "
        "'qdrant': s.QDRANT_URL}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    import json

    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config == {
        "engine": "django.db.backends.postgresql",
        "pool": True,
        "cache": "config.redis_cache.SharedPoolRedisCache",
        "layer": "channels_redis.core.RedisChannelLayer",
        "eager": False,
        "broker": "redis://cache.internal:6379/2",
        "qdrant": "http://qdrant.internal:6333",
    }


def test_celery_runs_tasks_eagerly_in_embedded_mode(settings):
    from config.celery import app

    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    assert add.delay(2, 3).get(timeout=1) == 5
