"""The users the read-only routes check, kept per process for a second.

Why (issue 18): every request checks its user against the database (active, token version,
role), and for the hot read routes that lookup was a database round trip in its own session on
every request, the largest part of their cost left once the framework's was gone. A reader is the
detached, read-only ``User`` those routes see (:func:`magflow.auth.repository.reader_by_id`).

How fresh: a change to a user (logout, password change or reset, disabled, role changed,
deleted) committed **in this process** drops every kept reader at once (SQLAlchemy events: a
``User`` row updated or deleted, then its session committed); a change made by another
process (another API process, a worker, the CLI) is seen here within
``MAGFLOW_AUTH_CACHE_SECONDS`` (1 s by default; 0 turns the cache off), the same kind of bound the
WebSocket hub has for open sockets (``MAGFLOW_WS_RECHECK_SECONDS``). Routes that change things
(not read-only) never use it: they load their user in their own transaction.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from magflow.auth.models import User

#: At most this many users kept per process (all dropped when full).
READERS_KEPT = 4096

_caches: weakref.WeakSet[ReaderCache] = weakref.WeakSet()


class ReaderCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._readers: dict[int, tuple[float, User | None]] = {}
        _caches.add(self)

    async def get(self, user_id: int, read: Callable[[int], Awaitable[User | None]]) -> User | None:
        """The reader ``user_id`` (None: no such user), from this process's memory when read
        less than :attr:`seconds` ago, else by ``read``."""
        if self.seconds <= 0:
            return await read(user_id)
        now = time.monotonic()
        entry = self._readers.get(user_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        reader = await read(user_id)
        if len(self._readers) >= READERS_KEPT:
            self._readers.clear()
        self._readers[user_id] = (now + self.seconds, reader)
        return reader

    def clear(self) -> None:
        self._readers.clear()


_CHANGED = "magflow_users_changed"


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _note_user_change(_mapper: Any, _connection: Any, user: User) -> None:
    """A ``User`` row was written (a mapper event: no other flush pays for it)."""
    session = object_session(user)
    if session is not None:
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_readers(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_caches):
            cache.clear()


@event.listens_for(Session, "after_soft_rollback")
def _forget_noted_changes(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(_CHANGED, None)
