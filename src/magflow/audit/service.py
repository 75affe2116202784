"""The audit log: every request that writes to eMAG is recorded with who, when, which account,
what was sent and what eMAG answered.

An audit row is written in its own short transaction (like sync progress), not in the caller's
unit of work: a refused write rolls the caller's changes back, but the record that it was tried
must stay. This is the one place in the write-back code that commits.

Credentials never reach the log: they travel only in the eMAG client's HTTP auth, never in a
body; keys that look like secrets (``password``, ``token``, ``secret``, ``authorization``) are
masked anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from magflow.audit import repository
from magflow.audit.models import AuditLog
from magflow.db.engine import Database
from magflow.emag.errors import EmagError

log = logging.getLogger("magflow.audit")

T = TypeVar("T")
SECRET_KEYS = ("password", "secret", "token", "authorization", "api_key")
MAX_MESSAGES = 200


@dataclass(frozen=True)
class Actor:
    """Who caused the write (a user, or a system job when ``user_id`` is None)."""

    user_id: int | None
    email: str | None

    @classmethod
    def of(cls, user: Any) -> Actor:
        return cls(getattr(user, "id", None), getattr(user, "email", None))


SYSTEM = Actor(None, "system")


def scrub(value: Any) -> Any:
    """``value`` with every secret-looking key masked, recursively."""
    if isinstance(value, dict):
        return {
            k: "***" if any(s in str(k).lower() for s in SECRET_KEYS) else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


@dataclass
class Outcome:
    """What eMAG answered, as stored in the log."""

    status_code: int | None
    success: bool
    messages: list[str]
    response: Any = None
    error_kind: str | None = None


@dataclass
class Auditor:
    """Records writes of one actor on one account."""

    db: Database
    actor: Actor
    account_id: int | None = None
    account_name: str | None = None
    bulk_operation_id: int | None = None

    async def record(
        self,
        *,
        action: str,
        emag_route: str,
        request: Any,
        outcome: Outcome,
        http_method: str = "POST",
        target: str | None = None,
        duration_ms: int | None = None,
    ) -> None:
        entry = AuditLog(
            user_id=self.actor.user_id,
            user_email=self.actor.email,
            account_id=self.account_id,
            account_name=self.account_name,
            action=action,
            emag_route=emag_route,
            http_method=http_method,
            target=target,
            request=scrub(request),
            status_code=outcome.status_code,
            success=outcome.success,
            error_kind=outcome.error_kind,
            messages=outcome.messages[:MAX_MESSAGES],
            response=scrub(outcome.response),
            duration_ms=duration_ms,
            bulk_operation_id=self.bulk_operation_id,
        )
        try:
            async with self.db.session() as session:
                repository.add(session, entry)
                await session.commit()
        except Exception:  # the write happened; a lost audit row must not hide that
            log.exception("could not record audit entry for %s %s", action, emag_route)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        action: str,
        emag_route: str,
        request: Any,
        judge: Callable[[T], Outcome],
        http_method: str = "POST",
        target: str | None = None,
    ) -> T:
        """Run one eMAG write, record it, and return its result (or raise its error).

        ``judge`` turns a returned result into an :class:`Outcome` (an answer may be a 200 that
        still refuses some items, e.g. the light offer API). An :class:`EmagError` is recorded
        with its HTTP status, kind and eMAG's messages, then re-raised.
        """
        started = time.monotonic()
        try:
            result = await fn()
        except EmagError as exc:
            await self.record(
                action=action,
                emag_route=emag_route,
                request=request,
                outcome=Outcome(
                    status_code=exc.status_code,
                    success=False,
                    messages=exc.messages or [exc.summary],
                    response=exc.body,
                    error_kind=exc.kind,
                ),
                http_method=http_method,
                target=target,
                duration_ms=int((time.monotonic() - started) * 1000),
            )
            raise
        await self.record(
            action=action,
            emag_route=emag_route,
            request=request,
            outcome=judge(result),
            http_method=http_method,
            target=target,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        return result
