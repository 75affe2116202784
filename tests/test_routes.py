"""The route table: no doubled prefixes, no path shadowed by an earlier one."""

from __future__ import annotations

import itertools
import re

from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount

from magflow.app import ROUTERS

CONTRACT_PATHS = {
    ("GET", "/health"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/auth/me"),
}


def _routes() -> list[tuple[str, str, str]]:
    rows = []
    for route in (route for router in ROUTERS for route in router.routes):
        if isinstance(route, APIRoute):
            rows.extend((method, route.path, route.name) for method in sorted(route.methods))
        elif isinstance(route, APIWebSocketRoute):
            rows.append(("WS", route.path, route.name))
        elif isinstance(route, Mount):
            rows.append(("MOUNT", route.path, route.name or ""))
        else:
            raise AssertionError(f"unexpected route type {type(route).__name__}")
    return rows


def test_contract_paths_exist() -> None:
    present = {(method, path) for method, path, _ in _routes()}
    assert present >= CONTRACT_PATHS


def test_no_doubled_prefixes() -> None:
    for _, path, name in _routes():
        segments = [s for s in path.split("/") if s]
        for a, b in itertools.pairwise(segments):
            assert a != b, f"doubled segment {a!r} in {path} ({name})"
        assert "/api/v1/api" not in path and "//" not in path, path


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}/]+(:path)?\}", "[^/]+", path) + "$")


def test_no_route_is_shadowed_by_an_earlier_one() -> None:
    routes = _routes()
    for i, (method, path, name) in enumerate(routes):
        for earlier_method, earlier_path, earlier_name in routes[:i]:
            if earlier_method != method:
                continue
            assert earlier_path != path, f"{method} {path} defined twice ({earlier_name}, {name})"
            # An earlier parametrised route that matches this literal path hides it.
            if "{" in earlier_path and "{" not in path:
                assert not _pattern(earlier_path).match(path), (
                    f"{method} {path} ({name}) is shadowed by {earlier_path} ({earlier_name})"
                )
