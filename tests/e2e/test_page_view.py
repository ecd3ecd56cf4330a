"""The page response itself (no browser needed): headers, static assets, methods."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_chat_page_has_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_chat_page_has_no_inline_script_and_loads_its_own_assets(client):
    html = client.get("/").content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "the page loads its script"
    assert all(" src=" in tag for tag in scripts)
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert [body.strip() for body in bodies] == [""] * len(scripts)  # no inline code
    assert "style=" not in html  # inline styles would be refused by the policy
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        response = client.get(asset)
        assert response.status_code == 200, asset


def test_chat_page_only_answers_safe_methods(client):
    assert client.post("/").status_code == 405


def test_favicon_is_served_and_named_by_the_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    html = client.get("/").content.decode()
    assert re.search(r'<link rel="icon" href="/static/chat/favicon.svg"', html)
    assert "<title>AI Chat</title>" in html
