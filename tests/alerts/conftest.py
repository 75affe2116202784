"""Real receivers on loopback for alert tests: an SMTP server (aiosmtpd) that keeps every message,
and a webhook receiver (a small FastAPI app under uvicorn) that keeps every request and answers
with the statuses it is told to, in turn."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from magflow.emag_sim import SimAccount, SimConfig
from tests.support.servers import UvicornThread, free_port


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]]
    # Statuses to answer, in turn; 200 once they are used up.
    statuses: list[int]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = FastAPI()
    got: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = []
    lock = threading.Lock()

    @app.post("/hook/{token}")
    async def hook(request: Request, token: str) -> JSONResponse:
        body = await request.body()
        with lock:
            got.append((dict(request.headers), body))
            code = statuses.pop(0) if statuses else 200
        return JSONResponse({"ok": code < 300}, status_code=code)

    with UvicornThread(app) as server:
        # The token in the path stands for the secret a Slack webhook URL carries.
        yield Receiver(f"{server.url}/hook/T0ps3cr3tPath", got, statuses)


@pytest.fixture
def sim_config() -> SimConfig:
    """A small shop: the alert tests need a few orders, not hundreds."""
    tag = uuid.uuid4().hex[:8]  # own usernames: own rate-limit budget per test
    return SimConfig(
        seed=5,
        offers=10,
        orders=25,
        history_days=10,
        accounts=[
            SimAccount(
                name="main", account_type="main", username=f"alerts-main-{tag}", password="pw-a1"
            ),
            SimAccount(
                name="fbe", account_type="fbe", username=f"alerts-fbe-{tag}", password="pw-b2"
            ),
        ],
    )
