"""Dependencies go one way: no route module imports another route module (shared filters and
lookups live in ``schemas``/``common``), so a route module can change without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

import magflow

PACKAGE = Path(magflow.__file__).parent


def _is_route_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "routes" or last.endswith("_routes") or ".routes." in module + "."


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    return imports_of(path.read_text(encoding="utf-8"), package)


def imports_of(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports; ``from x import y`` gives ``x``
    and ``x.y`` (``y`` may be a module)."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def route_modules() -> list[Path]:
    paths = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _is_route_module(_module_name(path)):
            paths.append(path)
    return paths


def test_route_modules_are_found() -> None:
    names = {_module_name(p) for p in route_modules()}
    # The detector finds the known route modules (a test that cannot fail is a defect).
    assert {
        "magflow.orders.routes",
        "magflow.orders.actions_routes",
        "magflow.bulk.routes",
    } <= names
    assert _is_route_module("magflow.web.routes.pages")  # a routes package's modules count too


def test_no_route_module_imports_another_route_module() -> None:
    offenders = []
    for path in route_modules():
        me = _module_name(path)
        for module in _imports(path):
            if not _is_route_module(module) or module == me:
                continue
            # A routes package may assemble its own modules (``magflow.web.routes`` → its parts).
            if module.startswith(me + ".") or me.startswith(module + "."):
                continue
            offenders.append(f"{me} imports {module}")
    assert not offenders, offenders


def test_the_import_walk_sees_route_imports() -> None:
    """Absolute, relative and plain imports of a route module are all seen."""
    source = (
        "import magflow.orders.routes\n"
        "from magflow.catalog.routes import account_ids\n"
        "from ..orders import actions_routes\n"
        "from .routes import router\n"
    )
    found = {m for m in imports_of(source, "magflow.bulk") if _is_route_module(m)}
    assert found == {
        "magflow.orders.routes",
        "magflow.catalog.routes",
        "magflow.catalog.routes.account_ids",
        "magflow.orders.actions_routes",
        "magflow.bulk.routes",
        "magflow.bulk.routes.router",
    }
