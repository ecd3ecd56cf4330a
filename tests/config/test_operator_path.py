"""The operator's path to production: the image, the compose file and production settings.

There is no Docker engine on the development machine, so the Dockerfile and docker-compose.yml
are checked by reading them (and by running the Dockerfile's collectstatic step as written).
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("init", "web", "ws", "worker")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile_env() -> dict[str, str]:
    """The runtime stage's ENV values (DATA_DIR, STATIC_ROOT, ...)."""
    text = (ROOT / "Dockerfile").read_text().split("AS runtime", 1)[1]
    block = re.search(r"^ENV (.+?)(?=^\S)", text, re.S | re.M).group(1)
    return dict(item.split("=", 1) for item in shlex.split(block.replace("\\\n", " ")))


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "QDRANT_", "STATIC_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x7Gk2pQ9vL4mN8rT1wY6zB3cF5hJ0sD2aE9uI4oP7lK1qW3eR6tY8uI0oP2aS4dF",
        DJANGO_ALLOWED_HOSTS="testserver",
        DATA_DIR=str(tmp_path / "data"),
    )
    env.update(extra)
    return env


def test_compose_prepares_the_database_static_files_and_admin_before_the_app():
    services = _compose()["services"]
    init = services["init"]
    command = " ".join(init["command"])
    for step in ("migrate --noinput", "collectstatic --noinput", "create_default_admin"):
        assert f"manage.py {step}" in command, command
    assert init["restart"] == "no"
    for name in ("web", "ws", "worker"):
        assert services[name]["depends_on"]["init"] == {
            "condition": "service_completed_successfully"
        }, name
        assert "migrate" not in " ".join(services[name]["command"]), name


def test_compose_shares_data_dir_and_static_files_and_uses_a_qdrant_server():
    services = _compose()["services"]
    image_env = _dockerfile_env()
    for name in APP_SERVICES:
        service = services[name]
        env = service["environment"]
        data_dir = env.get("DATA_DIR", image_env["DATA_DIR"])
        static_root = env.get("STATIC_ROOT", image_env["STATIC_ROOT"])
        assert f"data:{data_dir}" in service["volumes"], name
        assert f"static:{static_root}" in service["volumes"], name
        assert env["QDRANT_URL"].startswith("http://qdrant:"), name
        assert env["REDIS_URL"] and env["DATABASE_URL"].startswith("postgres://"), name
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production", name
    assert {"data", "static"} <= set(_compose()["volumes"])


def test_production_refuses_the_embedded_vector_store_unless_single_process(tmp_path):
    check = [sys.executable, "manage.py", "check"]
    refused = subprocess.run(
        check, cwd=ROOT, env=_production_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0
    assert "QDRANT_URL" in refused.stderr and "QDRANT_EMBEDDED_SINGLE_PROCESS" in refused.stderr
    allowed = subprocess.run(
        check,
        cwd=ROOT,
        env=_production_env(tmp_path, QDRANT_EMBEDDED_SINGLE_PROCESS="True"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert allowed.returncode == 0, allowed.stderr


_PAGES = """
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
print(*(client.get(url, secure=True).status_code for url in ("/admin/login/", "/api/docs/", "/")))
"""


@pytest.mark.timeout(600)  # three Django processes, one of them collectstatic
def test_dockerfile_collectstatic_step_makes_production_pages_work(tmp_path):
    run_line = next(
        line
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if "collectstatic" in line and line.startswith("RUN ")
    )
    words = shlex.split(run_line[len("RUN ") :])
    assignments = dict(w.split("=", 1) for w in words[: words.index("python")])
    env = _production_env(tmp_path, STATIC_ROOT=str(tmp_path / "static"), **assignments)
    env["DJANGO_ALLOWED_HOSTS"] = "testserver"

    def pages() -> str:
        result = subprocess.run(
            [sys.executable, "-c", _PAGES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    # Without collected files production settings cannot render these pages at all.
    assert pages() == ["500", "500", "500"]
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    assert pages() == ["200", "200", "200"]
