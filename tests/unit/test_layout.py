"""The layout's rules (issue 10, STYLE.md): one name for one thing, and dependencies that point
inward. Read from the source with `ast`, so that a module that breaks a rule fails here
whether or not any test imports it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import returnpath

PACKAGE = Path(returnpath.__file__).parent


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def dotted(path: Path) -> str:
    parts = ["returnpath", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The modules `path` imports, absolute (relative imports resolved)."""
    here = dotted(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # the package the module is in
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_no_two_modules_share_a_name() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        if path.name not in {"__init__.py", "__main__.py"}:
            by_name[path.stem].append(dotted(path))
    assert {name: where for name, where in by_name.items() if len(where) > 1} == {}


def test_no_two_classes_share_a_name() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                by_name[node.name].append(dotted(path))
    assert {name: where for name, where in by_name.items() if len(where) > 1} == {}


def test_the_store_imports_nothing_from_the_webhooks_package() -> None:
    offending = {
        dotted(path): sorted(name for name in imported(path) if name.startswith("returnpath.webhooks"))
        for path in modules()
        if dotted(path).startswith("returnpath.store")
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_the_pure_packages_import_no_adapter() -> None:
    adapters = ("returnpath.store", "returnpath.smtp", "returnpath.http", "returnpath.delivery", "returnpath.node")
    offending = {
        dotted(path): sorted(name for name in imported(path) if name.startswith(adapters))
        for path in modules()
        if dotted(path).startswith(("returnpath.core", "returnpath.bounces"))
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_the_import_reader_resolves_relative_imports() -> None:
    # The rules above are only as good as this reading of imports.
    store = PACKAGE / "store" / "postgresql" / "postgres_store.py"
    assert "returnpath.store.postgresql.postgres_database" in imported(store)
    assert "returnpath.core.ports" in imported(store)
