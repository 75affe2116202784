"""Adjustments to the generated OpenAPI schema so that it describes what the API answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def document_domain_422(schema: dict[str, Any]) -> None:
    """Let a 422's ``detail`` be a message or an object as well as FastAPI's validation list.

    Request validation answers ``{"detail": [ValidationError, ...]}``, but routes also refuse
    well-formed requests with 422 and a message (``"a cancellation needs a reason ..."``) or an
    object (eMAG's own refusal, with its messages). FastAPI documents every 422 as
    ``HTTPValidationError``; widen its ``detail`` to the three shapes the API really sends.
    """
    components = schema.get("components", {}).get("schemas", {})
    error = components.get("HTTPValidationError")
    if error is None:
        return
    listed = error["properties"]["detail"]
    error["properties"]["detail"] = {
        "anyOf": [
            {key: value for key, value in listed.items() if key != "title"},
            {"type": "string"},
            {"type": "object"},
        ],
        "title": "Detail",
    }


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_domain_422(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
