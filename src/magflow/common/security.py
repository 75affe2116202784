"""HTTP hardening middleware: request guards (body size, NUL characters) and security headers.

:class:`RequestGuardMiddleware` refuses, before any route runs:

- a body larger than the route's limit: ``413`` with a message naming the limit. A
  ``Content-Length`` over the limit is refused without reading the body; a body without one
  (chunked) is counted as it streams and refused as soon as the count passes the limit. The
  limit is ``MAGFLOW_MAX_BODY_BYTES`` (1 MiB by default) except under the prefixes given in
  ``route_limits`` (the bulk offer routes take a 20 MB file);
- text that no column can store: a NUL character (``%00``, ``\\u0000``), which PostgreSQL rejects
  in text and JSON, or an unpaired UTF-16 surrogate (``\\ud800``), which cannot be encoded at all,
  in the path, the query string, a JSON body or a URL-encoded form: ``422`` with FastAPI's
  validation shape, ``loc`` naming the parameter or the JSON field. Multipart bodies (file
  uploads, which may be binary) are only counted.

:class:`SecurityHeadersMiddleware` adds to every response (unless the route set them itself)
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy``,
``Permissions-Policy``, ``Cross-Origin-Opener-Policy`` and a ``Content-Security-Policy``:

- HTML (the dashboard): scripts, styles, images and connections from this origin only (the
  WebSocket included: CSP's ``'self'`` covers ``ws:``/``wss:`` on the same host), no inline
  script or style, no plugins, no ``<base>``, forms post here only, no framing;
- everything else (JSON, CSV, static files): ``default-src 'none'``, so a response opened as a
  document can run nothing;
- the OpenAPI pages (``/docs``, ``/redoc``): FastAPI's pages load Swagger UI / ReDoc from
  ``cdn.jsdelivr.net`` and start them with an inline script, so they get a policy allowing exactly
  that (they show no user data).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024

NUL_MESSAGE = "text must not contain NUL (U+0000) characters"
SURROGATE_MESSAGE = "text must not contain unpaired UTF-16 surrogates (U+D800 to U+DFFF)"

# A JSON escape that may decode to a NUL or a surrogate; only then is the body parsed here.
_SUSPECT_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SURROGATES = re.compile("[\ud800-\udfff]")
_INSPECTED_TYPES = ("application/json", "application/x-www-form-urlencoded")


def human_bytes(count: int) -> str:
    if count >= MIB and count % MIB == 0:
        return f"{count // MIB} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit.

    An ``HTTPException``, so that when a route is reading the body FastAPI lets it through to
    the app's exception handling (a JSON 413); the middleware answers it itself otherwise."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than this route accepts: at most {limit} bytes "
        f"({human_bytes(limit)})"
    )


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATES.search(value):
        return SURROGATE_MESSAGE
    return None


def _error(loc: Iterable[str | int], message: str) -> dict[str, Any]:
    kind = "string_nul_character" if message == NUL_MESSAGE else "string_unpaired_surrogate"
    return {"type": kind, "loc": list(loc), "msg": message}


def _pairs_problems(pairs: Iterable[tuple[str, str]], where: str) -> list[dict[str, Any]]:
    errors = []
    for name, value in pairs:
        problem = text_problem(name) or text_problem(value)
        if problem:
            errors.append(_error([where, name], problem))
    return errors


def _json_problems(value: Any, loc: list[str | int]) -> list[dict[str, Any]]:
    if isinstance(value, str):
        problem = text_problem(value)
        return [_error(loc, problem)] if problem else []
    errors: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                errors.append(_error([*loc, key], problem))
            errors.extend(_json_problems(item, [*loc, key]))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(_json_problems(item, [*loc, index]))
    return errors


def url_problems(scope: Scope) -> list[dict[str, Any]]:
    """NUL characters in the path or the query string (percent-decoding never yields a
    surrogate: invalid UTF-8 becomes U+FFFD)."""
    errors = []
    if "\x00" in scope.get("path", ""):
        errors.append(_error(["path"], NUL_MESSAGE))
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        errors.extend(_pairs_problems(parse_qsl(query, keep_blank_values=True), "query"))
    return errors


def body_problems(content_type: str, body: bytes) -> list[dict[str, Any]]:
    if content_type == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", "replace")
        return _pairs_problems(parse_qsl(text, keep_blank_values=True), "body")
    if not _SUSPECT_JSON_ESCAPE.search(body):
        return []
    try:
        return _json_problems(json.loads(body), ["body"])
    except (ValueError, RecursionError):
        return []  # not JSON (or absurdly nested): the route's own parsing answers


def _media_type(headers: Headers) -> str:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media.startswith("application/") and media.endswith("+json"):
        return "application/json"
    return media


class RequestGuardMiddleware:
    """Body size limits and NUL/surrogate refusal for HTTP requests (see the module doc)."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, route_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Longest prefix first, so that a more specific prefix wins.
        self.route_limits = sorted((route_limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.route_limits:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = url_problems(scope)
        if errors:
            await JSONResponse({"detail": errors}, status_code=422)(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope["path"])
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                response = JSONResponse({"detail": "invalid Content-Length header"}, 400)
                await response(scope, receive, send)
                return
            if length > limit:
                await _too_large(limit)(scope, receive, send)
                return

        media = _media_type(headers)
        if media in _INSPECTED_TYPES:
            body = await _read_body(receive, limit)
            if body is None:  # the client went away while sending
                return
            if isinstance(body, BodyTooLargeError):
                await _too_large(limit)(scope, receive, send)
                return
            errors = body_problems(media, body)
            if errors:
                await JSONResponse({"detail": errors}, status_code=422)(scope, receive, send)
                return
            receive = _replay(body, receive)
        else:
            receive = _counting(receive, limit)

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except BodyTooLargeError:
            # Read outside FastAPI's request parsing (which turns it into the JSON 413 itself).
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    # No "Connection: close": uvicorn then discards the rest of the body as it arrives (never
    # buffering it), so that a client still sending sees this answer rather than a reset.
    return JSONResponse({"detail": too_large_message(limit)}, status_code=413)


async def _read_body(receive: Receive, limit: int) -> bytes | BodyTooLargeError | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return BodyTooLargeError(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as usual

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLargeError(limit)
        return message

    return counting


# --- security headers ----------------------------------------------------------------------------

DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}


HSTS = "max-age=31536000; includeSubDomains"

# The same as raw ASGI header pairs (lower-case names), encoded once.
_COMMON_RAW = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in COMMON_HEADERS.items()
)
_HSTS_RAW = (b"strict-transport-security", HSTS.encode("latin-1"))


class SecurityHeadersMiddleware:
    """Adds :data:`COMMON_HEADERS` and a Content-Security-Policy to every HTTP response, and
    ``Strict-Transport-Security`` to those served over HTTPS: the request's own scheme, or
    ``X-Forwarded-Proto: https`` from a trusted proxy (``MAGFLOW_TRUSTED_PROXIES``; ``*`` trusts
    any). Over plain HTTP the header would be meaningless (browsers ignore it there)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        docs_paths: Iterable[str | None] = (),
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.docs_paths = {path for path in docs_paths if path}
        self.trusted_proxies = set(trusted_proxies)

    def is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        host = client[0] if client else None
        if "*" not in self.trusted_proxies and host not in self.trusted_proxies:
            return False
        forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
        return forwarded.split(",", 1)[0].strip().lower() == "https"

    def policy_for(self, path: str, content_type: str) -> str:
        if path in self.docs_paths:
            return DOCS_CSP
        if content_type.split(";", 1)[0].strip().lower() == "text/html":
            return DASHBOARD_CSP
        return API_CSP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        https = self.is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # On the raw pairs: one pass to see which headers the response set itself
                # (those it sets win), then the missing ones appended (every response pays this).
                headers = list(message.get("headers", ()))
                present = {name.lower(): value for name, value in headers}
                if https and _HSTS_RAW[0] not in present:
                    headers.append(_HSTS_RAW)
                headers.extend(pair for pair in _COMMON_RAW if pair[0] not in present)
                if b"content-security-policy" not in present:
                    content_type = present.get(b"content-type", b"").decode("latin-1")
                    policy = self.policy_for(path, content_type)
                    headers.append((b"content-security-policy", policy.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- bearer-protected paths (/metrics) ---------------------------------------------------------


class BearerTokenGuardMiddleware:
    """Requires ``Authorization: Bearer <token>`` on ``paths`` (``MAGFLOW_METRICS_TOKEN`` for
    ``/metrics``): ``401`` otherwise. Compared in constant time."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str], token: str) -> None:
        self.app = app
        self.paths = set(paths)
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("authorization", "").encode()
        if not hmac.compare_digest(given, self.expected):
            response = JSONResponse(
                {"detail": "this path needs 'Authorization: Bearer <MAGFLOW_METRICS_TOKEN>'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
