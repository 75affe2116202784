"""Helpers for eMAG client tests: a client on an ``httpx.MockTransport`` with fast retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from magflow.emag import EmagClient, InMemoryRateLimiter, RetryPolicy, Window
from magflow.emag.ratelimit import Bucket

PASSWORD = "s3cr3t-Pa55word!"

Handler = Callable[[httpx.Request], httpx.Response]

# Limits high enough that unit tests never wait on the limiter.
FAST_LIMITS = {b: (Window(10_000, 1.0),) for b in Bucket}
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, max_elapsed=5)


def envelope(
    results: Any = None, *, is_error: bool = False, messages: Any = None
) -> dict[str, Any]:
    return {
        "isError": is_error,
        "messages": messages or [],
        "errors": [],
        "results": [] if results is None else results,
    }


def ok(results: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json=envelope(results, **kwargs))


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


class Recorder:
    """A MockTransport handler that records requests and answers from a script or a function."""

    def __init__(self, answer: Handler | list[httpx.Response | Exception]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self.answer):
            return self.answer(request)
        item = self.answer.pop(0) if len(self.answer) > 1 else self.answer[0]
        if isinstance(item, Exception):
            raise item
        return item

    @property
    def routes(self) -> list[str]:
        return [r.url.path.split("/api-3/", 1)[1] for r in self.requests]


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., EmagClient]]:
    clients: list[EmagClient] = []

    def factory(
        answer: Recorder | Handler | list[httpx.Response | Exception],
        *,
        platform: str = "ro",
        retry: RetryPolicy = FAST_RETRY,
        **kwargs: Any,
    ) -> EmagClient:
        handler = answer if isinstance(answer, Recorder) else Recorder(answer)
        client = EmagClient(
            "https://emag.test/api-3",
            "seller@example.com",
            PASSWORD,
            platform=platform,
            rate_limiter=kwargs.pop("rate_limiter", InMemoryRateLimiter(FAST_LIMITS, margin=0)),
            account_key=kwargs.pop("account_key", "test-account"),
            retry=retry,
            transport=httpx.MockTransport(handler),
            **kwargs,
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()
