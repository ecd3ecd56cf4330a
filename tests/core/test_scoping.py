"""Which rows an actor may see is said in one selector per entity, nowhere else.

An AST scan of the application code: a query on a user-owned model (chat sessions and
messages, documents, API keys, generations) that filters by its owner (``user=``,
``owner=``, ``user_id=``, ...) may only appear in a scoping selector - a function of a
``selectors.py`` module, or one named ``<entity>_get`` / ``<entity>_list...`` beside its
entity. Everything else starts from those selectors, so tenancy changes one function per
entity. Creating rows (``objects.create(user=...)``) and correlated subqueries
(``owner=OuterRef(...)``, the fair ingestion queue) do not scope anything and are allowed.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "ai", "chat", "config", "core", "documents", "metering", "ops", "tenants")
SCOPED_MODELS = {"ChatSession", "ChatMessage", "Document", "ApiKey", "Generation"}
OWNER_KWARGS = re.compile(r"^(user|owner|session__user|document__owner)(_id|__pk|__id)?$")
QUERY_METHODS = {"filter", "exclude", "get", "get_or_create", "update_or_create"}
SELECTOR_NAME = re.compile(r"_(get|list)(_|$)")


def _root_model(node: ast.AST) -> str | None:
    """``Model`` of ``Model.objects.<...>.filter(...)`` (any chain in between)."""
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Attribute):
            if node.attr == "objects" and isinstance(node.value, ast.Name):
                return node.value.id
            node = node.value
        else:
            node = node.func
    return None


def _is_subquery_ref(value: ast.AST) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("OuterRef", "F")
    )


def ownership_queries(source: str) -> list[tuple[int, str, str]]:
    """``(line, function, model)`` of every ownership query in ``source``."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in QUERY_METHODS
            ):
                model = _root_model(child.func)
                owned = [
                    k
                    for k in child.keywords
                    if k.arg and OWNER_KWARGS.match(k.arg) and not _is_subquery_ref(k.value)
                ]
                if model in SCOPED_MODELS and owned:
                    found.append((child.lineno, function, model))
            visit(child, name)

    visit(ast.parse(source), "<module>")
    return found


def _app_modules() -> list[Path]:
    paths = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py") if (ROOT / app).is_dir() else ():
            if "migrations" not in path.parts:
                paths.append(path)
    return paths


def test_the_scan_finds_an_ownership_query_and_allows_selectors():
    source = (
        "def chat_turn_plan(actor):\n"
        "    return ChatSession.objects.select_related('x').filter(pk=1, user=actor.user)\n"
        "def document_list(actor):\n"
        "    return Document.objects.filter(owner=actor.user)\n"
        "def fair(q):\n"
        "    return Document.objects.filter(owner=OuterRef('owner'))\n"
    )
    found = ownership_queries(source)
    assert found == [(2, "chat_turn_plan", "ChatSession"), (4, "document_list", "Document")]


def test_no_ownership_query_outside_the_scoping_selectors():
    offenders = []
    for path in _app_modules():
        for line, function, model in ownership_queries(path.read_text()):
            if path.name == "selectors.py" or SELECTOR_NAME.search(function):
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line} {function}() queries {model}")
    assert offenders == [], "\n".join(offenders)
