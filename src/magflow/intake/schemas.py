from __future__ import annotations

from pydantic import BaseModel


class CallbackUrl(BaseModel):
    kind: str
    label: str
    url: str


class CallbackUrls(BaseModel):
    """The URLs to paste in eMAG's seller UI for one account (they hold its secret: admins only)."""

    account: str
    auto_acknowledge: bool
    urls: list[CallbackUrl]
    # Orders announced by callbacks or the catch-up poll, by state (pending, done, unknown).
    intake: dict[str, int]


class CallbackAnswer(BaseModel):
    """What eMAG gets back: the callback is taken; the work runs on the job system."""

    ok: bool = True
    detail: str
