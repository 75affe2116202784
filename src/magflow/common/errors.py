"""Errors become HTTP answers here, once, for every route (installed by ``create_app``).

Services raise domain errors; routes let them through; these handlers give them their status:

- :class:`NotFoundError` (and the not-found errors ``create_app`` names) → 404 with its text.
- eMAG refused the request (:class:`~magflow.emag.errors.EmagValidationError`: ``isError`` or a
  4xx ``{"message": ...}`` body) → 422 with eMAG's own messages.
- eMAG could not be used (authentication refused, rate limited, 5xx, timeout, malformed answer:
  every other :class:`~magflow.emag.errors.EmagError`) → 502, with a hint when eMAG may have
  processed a write anyway (docs/emag-protocol.md, "Answers and errors").

Both eMAG answers carry ``{"detail": {"message", "emag_route", "emag_status", "emag_messages",
"kind"}}``: the shape the dashboard's ``ApiError`` reads. Nothing is changed locally in either
case: the request's session is rolled back since the route never reaches its commit.

No database connection free within the pool's timeout (SQLAlchemy's ``TimeoutError``, the wait
bounded by ``MAGFLOW_DB_POOL_TIMEOUT_SECONDS``) → 503 with ``Retry-After``: the process is
overloaded, which is the client's cue to come back, not a server fault (``common/admission.py``).

Request validation errors (422) keep FastAPI's shape, but never echo a secret back: the ``input``
of a field named like a password, secret or token is dropped, and secret keys inside an echoed
object are masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from magflow.common.admission import RETRY_AFTER_SECONDS
from magflow.common.dates import AmbiguousZoneError
from magflow.emag.errors import EmagError, EmagTransientError, EmagValidationError

#: HTTP 422. Starlette renamed its constant (UNPROCESSABLE_ENTITY → UNPROCESSABLE_CONTENT) across
#: versions; the code is what matters, defined once here.
UNPROCESSABLE = 422
BAD_GATEWAY = 502
NOT_FOUND = 404
SERVICE_UNAVAILABLE = 503

#: Field names whose values are never echoed back (lower-cased substrings).
SECRET_FIELD_MARKERS = ("password", "secret", "token")
MASK = "***"


class NotFoundError(LookupError):
    """A named thing (account, user, run...) does not exist: 404 with this error's text."""


class InvalidInputError(ValueError):
    """Input a service refuses after looking at the data (a floor above a max price, an unknown
    category...): 422 with this error's text. Domain input errors derive from it."""


def emag_error_detail(exc: EmagError) -> dict[str, Any]:
    """The ``detail`` of an answer about an eMAG failure: eMAG's own messages, never credentials
    (the client's error texts carry none)."""
    detail: dict[str, Any] = {
        "message": str(exc),
        "emag_route": exc.route,
        "emag_status": exc.status_code,
        "emag_messages": exc.messages,
        "kind": exc.kind,
    }
    if isinstance(exc, EmagTransientError) and exc.maybe_processed:
        detail["hint"] = "eMAG may have processed the request; re-read before trying again"
    if exc.hint is not None:  # e.g. the IP to whitelist (emag.errors.EmagIpNotWhitelistedError)
        detail["hint"] = exc.hint
    return detail


def emag_error_status(exc: EmagError) -> int:
    """422 when eMAG refused the request (fix the request), 502 when eMAG could not be used."""
    return UNPROCESSABLE if isinstance(exc, EmagValidationError) else BAD_GATEWAY


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=NOT_FOUND)


async def _invalid_input(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=UNPROCESSABLE)


async def _ambiguous_zone(_request: Request, exc: Exception) -> JSONResponse:
    """A date without a zone over accounts on platforms of different zones (common.dates)."""
    return JSONResponse({"detail": str(exc)}, status_code=UNPROCESSABLE)


async def _emag_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EmagError)
    return JSONResponse({"detail": emag_error_detail(exc)}, status_code=emag_error_status(exc))


async def _pool_timeout(_request: Request, _exc: Exception) -> JSONResponse:
    return pool_timeout_response()


def pool_timeout_response() -> JSONResponse:
    """``503`` + ``Retry-After``: no database connection was free in time (the pool's bounded
    wait, ``db/engine.py``)."""
    return JSONResponse(
        {
            "detail": "the server is busy: no database connection was free in time; "
            f"retry after {RETRY_AFTER_SECONDS} s"
        },
        status_code=SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def is_secret_field(name: object) -> bool:
    return isinstance(name, str) and any(m in name.lower() for m in SECRET_FIELD_MARKERS)


def mask_secrets(value: Any) -> Any:
    """``value`` with the values of secret-named keys masked, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if is_secret_field(k) else mask_secrets(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def safe_validation_errors(errors: Iterable[Any]) -> list[Any]:
    """Pydantic's errors without secrets: no ``input`` for an error located at a secret field
    (``string_too_short`` on ``password`` would otherwise echo the password), and secret keys
    masked in any other echoed ``input`` (a ``missing`` error echoes the whole body)."""
    out: list[Any] = []
    for error in errors:
        if not isinstance(error, dict):
            out.append(error)
            continue
        error = dict(error)
        if any(is_secret_field(part) for part in error.get("loc", ())):
            error.pop("input", None)
        elif "input" in error:
            error["input"] = mask_secrets(error["input"])
        out.append(error)
    return out


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": jsonable_encoder(safe_validation_errors(exc.errors()))},
        status_code=UNPROCESSABLE,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``: every not-found error derives from
    :class:`NotFoundError`, every eMAG failure from ``EmagError``."""
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(AmbiguousZoneError, _ambiguous_zone)
    app.add_exception_handler(EmagError, _emag_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
