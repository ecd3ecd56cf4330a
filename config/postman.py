"""A Postman collection (v2.1) generated from the OpenAPI schema: ``make postman``.

``python -m config.postman`` writes ``config/postman_collection.json``; ``--check`` exits 1
when the checked-in file differs from what the current schema gives (CI runs it, so the
collection never drifts from the API). One folder per schema tag, one request per operation,
bearer auth from the ``accessToken`` collection variable, which the login, MFA, code and
refresh requests fill in from their answers.
"""

import argparse
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

COLLECTION_PATH = Path(__file__).resolve().with_name("postman_collection.json")
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Answers that carry a token pair: store it for the requests after them.
TOKEN_OPERATIONS = {
    "auth_login_create",
    "auth_mfa_verify_create",
    "auth_code_verify_create",
    "auth_refresh_create",
}
STORE_TOKENS = [
    "const body = pm.response.json();",
    "if (body.access) {",
    "  pm.collectionVariables.set('accessToken', body.access);",
    "  pm.collectionVariables.set('refreshToken', body.refresh);",
    "}",
]
_METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def _placeholder(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """A readable example value for ``schema`` (examples in the schema win)."""
    schema = _resolve(schema, spec)
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if "oneOf" in schema:
        return _placeholder(schema["oneOf"][0], spec, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        properties = schema.get("properties", {})
        return {
            name: _placeholder(prop, spec, depth + 1)
            for name, prop in properties.items()
            if not prop.get("readOnly")
        }
    if kind == "array":
        return [_placeholder(schema.get("items", {}), spec, depth + 1)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    return {"email": "ada@example.com", "uuid": "00000000-0000-0000-0000-000000000000"}.get(
        fmt or "", ""
    )


def _body(operation: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        media = content["application/json"]
        examples = media.get("examples") or {}
        if examples:
            value = next(iter(examples.values()))["value"]
        else:
            value = _placeholder(media["schema"], spec)
        return {
            "mode": "raw",
            "raw": json.dumps(value, indent=2, ensure_ascii=False),
            "options": {"raw": {"language": "json"}},
        }
    if "multipart/form-data" in content:
        schema = _resolve(content["multipart/form-data"]["schema"], spec)
        fields = []
        for name, prop in schema.get("properties", {}).items():
            if prop.get("format") == "binary":
                fields.append({"key": name, "type": "file", "src": []})
            else:
                fields.append({"key": name, "value": "", "type": "text"})
        return {"mode": "formdata", "formdata": fields}
    return None


def _url(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    segments = [
        f":{segment[1:-1]}" if segment.startswith("{") else segment
        for segment in path.strip("/").split("/")
    ]
    parameters = operation.get("parameters", [])
    query = [
        {
            "key": p["name"],
            "value": "",
            "description": p.get("description", ""),
            "disabled": not p.get("required", False),
        }
        for p in parameters
        if p.get("in") == "query"
    ]
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/" + "/".join(segments),
        "host": ["{{baseUrl}}"],
        "path": segments,
    }
    variables = [
        {"key": p["name"], "value": "", "description": p.get("description", "")}
        for p in parameters
        if p.get("in") == "path"
    ]
    if variables:
        url["variable"] = variables
    if query:
        url["query"] = query
    return url


def _item(path: str, method: str, operation: dict[str, Any], spec: dict[str, Any]) -> dict:
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [{"key": "Accept", "value": "application/json"}],
        "url": _url(path, operation),
        "description": operation.get("description", ""),
    }
    body = _body(operation, spec)
    if body is not None:
        request["body"] = body
        if body["mode"] == "raw":
            request["header"].append({"key": "Content-Type", "value": "application/json"})
    security = operation.get("security", spec.get("security", []))
    if not any(security):
        request["auth"] = {"type": "noauth"}
    item: dict[str, Any] = {
        "name": operation.get("summary") or f"{method.upper()} {path.removeprefix('/api/v1/')}",
        "request": request,
        "response": [],
    }
    if operation["operationId"] in TOKEN_OPERATIONS:
        item["event"] = [
            {"listen": "test", "script": {"type": "text/javascript", "exec": STORE_TOKENS}}
        ]
    return item


def collection_from_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The Postman collection of an OpenAPI 3 document."""
    folders: dict[str, list[dict]] = {}
    for path, methods in spec["paths"].items():
        for method in _METHODS:
            operation = methods.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_item(path, method, operation, spec))
    info = spec["info"]
    return {
        "info": {
            "name": info["title"],
            "description": info.get("description", "")
            + "\n\nGenerated from the OpenAPI schema by `make postman`; do not edit.",
            "version": info["version"],
            "schema": POSTMAN_SCHEMA,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}],
        },
        "variable": [
            {"key": "baseUrl", "value": DEFAULT_BASE_URL},
            {"key": "accessToken", "value": ""},
            {"key": "refreshToken", "value": ""},
        ],
        "item": [{"name": tag, "item": items} for tag, items in sorted(folders.items())],
    }


def render() -> str:
    """The collection of the current schema, as the file holds it."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    # Round-trip through JSON: plain types only (lazy strings, OrderedDicts...).
    spec = json.loads(json.dumps(spec, default=str))
    return json.dumps(collection_from_schema(spec), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--output", type=Path, default=COLLECTION_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current == text:
            sys.stdout.write(f"{args.output} is up to date\n")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), text.splitlines(), "checked in", "from schema", lineterm=""
        )
        sys.stdout.write("\n".join(list(diff)[:80]) + "\n")
        sys.stderr.write(f"{args.output} is stale: run `make postman` and commit it\n")
        return 1
    args.output.write_text(text)
    sys.stdout.write(f"wrote {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
