"""Security headers on every response, and templates the Content-Security-Policy can allow.

Every GET route of the table (API and dashboard), the error answers (401, 404, 413, 422), the
OpenAPI pages and the static files carry ``X-Content-Type-Options``, ``X-Frame-Options``,
``Referrer-Policy``, ``Permissions-Policy``, ``Cross-Origin-Opener-Policy`` and the CSP for
their kind (dashboard HTML, API, docs). The templates and the script are checked for what the
dashboard's CSP would block: inline scripts, event-handler attributes, style attributes, htmx's
``hx-on`` (which evaluates code). That the browser reports no violation on the real pages is
tested in test_csp_browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from magflow.common.security import API_CSP, COMMON_HEADERS, DASHBOARD_CSP, DOCS_CSP
from magflow.web.routes import STATIC_DIR
from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, send
from tests.hardening.inventory import Operation, operations

TEMPLATES = Path(STATIC_DIR).parent / "templates"
GETS = [op for op in operations() if op.method == "GET"]


def check(response: httpx.Response, policy: str) -> list[str]:
    problems = [
        f"{name}: {response.headers.get(name)!r}"
        for name, value in COMMON_HEADERS.items()
        if response.headers.get(name) != value
    ]
    if response.headers.get("content-security-policy") != policy:
        problems.append(f"CSP: {response.headers.get('content-security-policy')!r}")
    return [f"{describe(response)[:120]}: {p}" for p in problems]


def policy_for(response: httpx.Response) -> str:
    html = response.headers.get("content-type", "").startswith("text/html")
    return DASHBOARD_CSP if html else API_CSP


@pytest.mark.parametrize("op", GETS, ids=lambda op: op.id)
def test_every_route_sends_the_security_headers(stack: Stack, op: Operation) -> None:
    # As a viewer: the answer is a page, data or a refusal, and none of them waits on eMAG.
    required = {p.name: "nope" for p in op.param("query") if p.required}
    response = send(stack, op, role="viewer", params=required)
    assert response.status_code < 500, describe(response)
    assert not check(response, policy_for(response))


def test_dashboard_pages_get_the_dashboard_policy(stack: Stack) -> None:
    pages = ["/", "/sync", "/offers", "/orders", "/customers", "/admin", "/users"]
    problems = []
    for path in pages:
        response = stack.http.get(path, headers=stack.auth("admin"))
        assert response.status_code == 200 and "<html" in response.text, describe(response)
        problems += check(response, DASHBOARD_CSP)
    problems += check(stack.http.get("/login"), DASHBOARD_CSP)
    assert not problems, problems


def test_errors_docs_and_static_files_get_them_too(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    answers = {
        "401": stack.http.get("/api/v1/auth/me"),
        "404": stack.http.get("/no/such/page"),
        "413": stack.http.post("/api/v1/users", content=b"x" * (limit + 1)),
        "422 (guard)": stack.http.get("/api/v1/emag/offers", params={"search": "\x00"}),
        "422 (route)": stack.http.get("/api/v1/emag/offers/x", headers=stack.auth("viewer")),
        "openapi.json": stack.http.get("/openapi.json"),
        "static js": stack.http.get("/static/magflow.js"),
        "vendored htmx": stack.http.get("/static/vendor/htmx/htmx.min.js"),
    }
    problems = []
    for name, response in answers.items():
        expected = int(name[:3]) if name[0].isdigit() else 200
        assert response.status_code == expected, (name, describe(response))
        problems += check(response, API_CSP)
    for path in ("/docs", "/redoc"):
        problems += check(stack.http.get(path), DOCS_CSP)
    assert not problems, problems


def test_the_dashboard_policy_allows_nothing_inline() -> None:
    directives = dict(d.strip().split(" ", 1) for d in DASHBOARD_CSP.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in DASHBOARD_CSP and "unsafe" not in API_CSP


# --- what the policy would block ------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
HX_ON = re.compile(r"\shx-on[:-]", re.IGNORECASE)


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    templates = sorted(TEMPLATES.glob("*.html"))
    assert len(templates) >= 15
    problems = []
    for template in templates:
        text = template.read_text()
        for name, pattern in [
            ("inline script", INLINE_SCRIPT),
            ("event handler attribute", HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
            ("hx-on (needs eval)", HX_ON),
        ]:
            problems += [f"{template.name}: {name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not problems, problems


def test_the_patterns_catch_what_they_should() -> None:
    """The control for the scan above."""
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/x.js" defer></script>')
    assert not INLINE_SCRIPT.search('<script type="application/json" id="d">{}</script>')
    assert HANDLER.search('<input onclick="x()">') and STYLE_ATTRIBUTE.search('<b style="x">')
    assert HX_ON.search('<form hx-on::after-request="x">')


def test_htmx_is_configured_for_the_policy() -> None:
    base = (TEMPLATES / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base and '"allowEval": false' in base
    script = (Path(STATIC_DIR) / "magflow.js").read_text()
    assert "eval(" not in script and "new Function" not in script
