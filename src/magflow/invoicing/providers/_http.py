"""HTTP plumbing shared by the external providers: one ``httpx`` client, failures mapped to
:class:`ProviderRefused` (the provider answered no) or :class:`ProviderUnavailable` (no usable
answer)."""

from __future__ import annotations

from typing import Any

import httpx

from magflow.invoicing.providers.base import ProviderUnavailable

TIMEOUT_SECONDS = 30.0


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


def json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(
            f"HTTP {response.status_code} with a body that is not JSON"
        ) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"HTTP {response.status_code} with an unexpected JSON body")
    return body
