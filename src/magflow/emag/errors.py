"""Typed errors and the response envelope of the eMAG API
(docs/emag-protocol.md, "Answers and errors").

Every answer is classified here, in one place:

- HTTP 429 (Kong's ``{"message": "API rate limit exceeded"}``) → :class:`EmagRateLimitedError`.
- HTTP 401/403, and any ``isError`` answer whose messages say ``Invalid vendor ip`` or ``You are not
  allowed to use this API.`` → :class:`EmagAuthError` (docs/emag-protocol.md, "Answers and errors";
  401 is uncertain ([T451]) but treated the same, the tolerant reading); ``Invalid vendor ip`` is
  the subclass :class:`EmagIpNotWhitelistedError`, which carries the IP and the seller's hint.
- HTTP 5xx, timeouts, connection errors, and a 2xx body that is not a JSON envelope →
  :class:`EmagTransientError`. A 2xx JSON object without ``isError`` is also "not processed" by the
  success rule of docs/emag-protocol.md, "Answers and errors", so it is transient too.
- ``isError: true`` with messages (normally under HTTP 200), and other 4xx such as offer_stock's
  400/404 ``{"message": ...}`` bodies (docs/emag-protocol.md, "Offers") →
  :class:`EmagValidationError`.

Error texts carry the route and eMAG's own messages, never credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson


class EmagError(Exception):
    """Base of every error the client raises.

    ``messages`` holds eMAG's own messages (plain strings), ``route`` the API route (for example
    ``product_offer/read``), ``status_code`` the HTTP status when a response was received.
    """

    kind = "error"
    #: What the user should do about it, when MagFlow knows (shown next to eMAG's messages).
    hint: str | None = None

    def __init__(
        self,
        summary: str,
        *,
        route: str,
        status_code: int | None = None,
        messages: Iterable[str] = (),
        body: Any = None,
    ) -> None:
        self.summary = summary
        self.route = route
        self.status_code = status_code
        self.messages: list[str] = list(messages)
        # The decoded response body, if any (eMAG never echoes credentials back).
        self.body = body
        super().__init__(self._text())

    def _text(self) -> str:
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        text = f"{self.route}{status}: {self.summary}"
        if self.messages:
            text += " — " + "; ".join(self.messages[:10])
            if len(self.messages) > 10:
                text += f"; … ({len(self.messages) - 10} more)"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(route={self.route!r}, status_code={self.status_code!r}, "
            f"messages={self.messages!r})"
        )


class EmagAuthError(EmagError):
    """Bad credentials, no API rights or a non-whitelisted IP
    (docs/emag-protocol.md, "Requests and authentication", "Answers and errors"). Never retried."""

    kind = "auth"


IP_WHITELIST_HINT = (
    "eMAG refuses calls from this server's IP address: whitelist this server's IP in the eMAG "
    "seller area (Profile > API settings), then start the sync again. MagFlow does not retry "
    "until then."
)


class EmagIpNotWhitelistedError(EmagAuthError):
    """eMAG answered ``ERROR: Invalid vendor ip [x.x.x.x]``: the IP this server calls from is not
    whitelisted in the seller's eMAG account (docs/emag-protocol.md, "Requests and
    authentication", "Answers and errors").

    Not transient: every call fails the same way until the seller adds the IP, so it is never
    retried (an :class:`EmagAuthError`), a sync fails at once with eMAG's message, and the
    scheduler pauses the account (``jobs.schedule.ip_refusal_pause_until``). ``ip`` is the address
    eMAG quoted (None if its message named none); ``hint`` tells the seller what to do.
    """

    kind = "ip_not_whitelisted"

    def __init__(self, summary: str, **kwargs: Any) -> None:
        super().__init__(summary, **kwargs)
        self.ip = vendor_ip(self.messages)

    hint = IP_WHITELIST_HINT


class EmagRateLimitedError(EmagError):
    """HTTP 429 from eMAG's gateway (docs/emag-protocol.md, "Rate and size limits").

    ``retry_after``: seconds from a ``Retry-After``/``RateLimit-Reset`` header (not documented for
    eMAG, used when present). ``window``: length in seconds of the longest Kong window reported
    exhausted by ``X-RateLimit-Remaining-<n><unit>: 0`` (e.g. 1, 3, 60). Either may be None.
    """

    kind = "rate_limited"

    def __init__(
        self,
        summary: str,
        *,
        retry_after: float | None = None,
        window: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.window = window
        super().__init__(summary, **kwargs)


class EmagTransientError(EmagError):
    """5xx, timeout, connection failure or malformed body: worth retrying
    (docs/emag-protocol.md, "Answers and errors").

    ``reason`` is one of ``server_error``, ``timeout``, ``network``, ``malformed``.
    ``maybe_processed`` is False only when the request certainly never reached eMAG (a connect
    error or a connection-pool timeout) or eMAG said it did not process it (502/503); the client
    uses it to decide whether a non-idempotent write may be retried.
    """

    kind = "transient"

    def __init__(
        self, summary: str, *, reason: str, maybe_processed: bool = True, **kwargs: Any
    ) -> None:
        self.reason = reason
        self.maybe_processed = maybe_processed
        super().__init__(summary, **kwargs)


class EmagValidationError(EmagError):
    """eMAG refused the request: ``isError: true`` or a 4xx ``{"message": ...}`` body.

    Never retried.
    """

    kind = "validation"


# --- messages ------------------------------------------------------------------------------------

VENDOR_IP_PATTERN = re.compile(r"invalid vendor ip(?:\s*\[\s*([^\]\s]*)\s*\])?", re.IGNORECASE)
AUTH_PATTERNS = (
    VENDOR_IP_PATTERN,
    re.compile(r"you are not allowed to use this api", re.IGNORECASE),
)


def is_auth_message(message: str) -> bool:
    return any(p.search(message) for p in AUTH_PATTERNS)


def is_vendor_ip_message(message: str) -> bool:
    """``ERROR: Invalid vendor ip [x.x.x.x]`` (docs/emag-protocol.md, "Answers and errors")."""
    return VENDOR_IP_PATTERN.search(message) is not None


def vendor_ip(messages: Iterable[str]) -> str | None:
    """The address quoted by the first ``Invalid vendor ip [...]`` message, or None."""
    for message in messages:
        match = VENDOR_IP_PATTERN.search(message)
        if match is not None and match.group(1):
            return match.group(1)
    return None


def _auth_error(route: str, status_code: int, messages: list[str], body: Any) -> EmagAuthError:
    """The auth refusal for these messages: :class:`EmagIpNotWhitelistedError` when eMAG says the
    IP is not whitelisted, else :class:`EmagAuthError`."""
    if any(is_vendor_ip_message(m) for m in messages):
        return EmagIpNotWhitelistedError(
            "IP address not whitelisted by eMAG",
            route=route,
            status_code=status_code,
            messages=messages,
            body=body,
        )
    return EmagAuthError(
        "authentication refused", route=route, status_code=status_code, messages=messages, body=body
    )


def flatten_messages(value: Any) -> list[str]:
    """eMAG messages as plain strings.

    They are strings in practice (docs/emag-protocol.md, "Answers and errors"), but be tolerant:
    nested lists are flattened, objects give their ``message``/``text``/``msg`` (or their JSON),
    numbers are stringified, null is dropped.
    """
    out: list[str] = []
    if value is None:
        return out
    if isinstance(value, str):
        if value.strip():
            out.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            out.extend(flatten_messages(item))
    elif isinstance(value, dict):
        for key in ("message", "text", "msg", "error"):
            if isinstance(value.get(key), str):
                text = value[key]
                if isinstance(value.get("field"), str):
                    text = f"{value['field']}: {text}"
                out.append(text)
                break
        else:
            if value:
                out.append(json.dumps(value, ensure_ascii=False, default=str))
    else:
        out.append(str(value))
    return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


# --- envelope ------------------------------------------------------------------------------------


@dataclass
class Envelope:
    """A decoded ``{"isError", "messages", "results", "errors"}`` answer
    (docs/emag-protocol.md, "Answers and errors")."""

    is_error: bool
    messages: list[str]
    results: Any
    errors: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    status_code: int = 200

    @property
    def all_messages(self) -> list[str]:
        return self.messages + [e for e in self.errors if e not in self.messages]


def _decode(content: bytes) -> Any:
    """orjson is several times faster than json on the 100-row pages a sync reads; a UTF-8 BOM
    (which orjson refuses) is stripped first."""
    return orjson.loads(content.removeprefix(b"\xef\xbb\xbf"))


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds from ``Retry-After`` / ``RateLimit-Reset`` (not documented for eMAG,
    docs/emag-protocol.md, "Answers and errors")."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after", "ratelimit-reset"):
        raw = lowered.get(name)
        if raw is not None:
            try:
                return max(0.0, float(raw))
            except ValueError:
                pass
    return None


def _exhausted_window(headers: dict[str, str]) -> float | None:
    """The longest window Kong reports exhausted (``X-RateLimit-Remaining-3second: 0``,
    docs/emag-protocol.md, "Answers and errors")."""
    lowered = {k.lower(): v for k, v in headers.items()}
    units = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
    longest: float | None = None
    for name, raw in lowered.items():
        match = re.fullmatch(r"x-ratelimit-remaining-(\d*)(second|minute|hour|day)", name)
        if match is None:
            continue
        try:
            remaining = float(raw)
        except ValueError:
            continue
        if remaining <= 0:
            period = float(match.group(1) or 1) * units[match.group(2)]
            longest = period if longest is None else max(longest, period)
    return longest


def parse_response(
    route: str, status_code: int, content: bytes, headers: dict[str, str] | None = None
) -> Envelope | None:
    """Classify one HTTP answer: return its envelope (None for an empty 2xx, e.g. offer_stock's
    204, docs/emag-protocol.md, "Offers") or raise the matching :class:`EmagError`.

    ``isError: true`` raises :class:`EmagValidationError` (or :class:`EmagAuthError` for the auth
    messages); callers that must see such envelopes (product_offer/save's documentation errors)
    catch it and read ``err.body``.
    """
    headers = headers or {}
    body: Any = None
    decoded = False
    if content.strip():
        try:
            body = _decode(content)
            decoded = True
        except (ValueError, UnicodeDecodeError):
            body = None
    messages = flatten_messages(body.get("messages")) if isinstance(body, dict) else []
    if isinstance(body, dict):
        messages += [m for m in flatten_messages(body.get("message")) if m not in messages]
        messages += [m for m in flatten_messages(body.get("errors")) if m not in messages]
    if not decoded and content.strip():
        messages = [content[:200].decode("utf-8", "replace")]

    if status_code == 429:
        raise EmagRateLimitedError(
            "rate limit exceeded",
            retry_after=_retry_after(headers),
            window=_exhausted_window(headers),
            route=route,
            status_code=status_code,
            messages=messages,
            body=body,
        )
    if status_code in (401, 403):
        raise _auth_error(route, status_code, messages, body)
    if status_code >= 500:
        raise EmagTransientError(
            "server error",
            reason="server_error",
            # 502/503: the gateway/backend did not take the request. 500/504 may have done work.
            maybe_processed=status_code not in (502, 503),
            route=route,
            status_code=status_code,
            messages=messages,
            body=body,
        )
    if status_code >= 400:
        if isinstance(body, dict) and any(is_auth_message(m) for m in messages):
            raise _auth_error(route, status_code, messages, body)
        raise EmagValidationError(
            "request refused", route=route, status_code=status_code, messages=messages, body=body
        )
    if not content.strip():
        return None
    if not decoded:
        raise EmagTransientError(
            "malformed JSON in response",
            reason="malformed",
            route=route,
            status_code=status_code,
            messages=messages,
        )
    if not isinstance(body, dict) or "isError" not in body:
        raise EmagTransientError(
            "response is not an eMAG envelope (no isError)",
            reason="malformed",
            route=route,
            status_code=status_code,
            body=body,
        )
    envelope = Envelope(
        is_error=_truthy(body.get("isError")),
        # [DOC] shows "Maximum input vars" under a singular "message" key
        # (docs/emag-protocol.md, "Answers and errors"): read both.
        messages=flatten_messages(body.get("messages")) + flatten_messages(body.get("message")),
        results=body.get("results"),
        errors=flatten_messages(body.get("errors")),
        raw=body,
        status_code=status_code,
    )
    if envelope.is_error:
        all_messages = envelope.all_messages
        if any(is_auth_message(m) for m in all_messages):
            raise _auth_error(route, status_code, all_messages, body)
        raise EmagValidationError(
            "eMAG answered isError",
            route=route,
            status_code=status_code,
            messages=all_messages,
            body=body,
        )
    return envelope
