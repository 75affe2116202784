"""Logging set-up: plain text or one JSON object per line, with tokens redacted.

WebSocket clients may send their access token in the query string (``?token=``), and uvicorn's
access log writes every request line whole: every handler installed here carries
:class:`RedactTokensFilter`, which replaces the value of any ``token``/``access_token``/
``refresh_token`` parameter (and a ``Bearer`` credential) with ``[redacted]`` in every line,
whichever logger wrote it; likewise the secret segment of eMAG's callback URLs
(``/callbacks/emag/[redacted]/order``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from magflow.settings import LogFormat

_TOKEN_PARAMETER = re.compile(r"(?i)(\b(?:access_token|refresh_token|token)=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# eMAG's callback URLs carry the account's secret as a path segment (magflow.intake).
_CALLBACK_SECRET = re.compile(r"(/callbacks/emag/)[^/\s?\"']+")
REDACTED = "[redacted]"


#: Whether a line may hold anything the patterns above redact: one search, so that a line with
#: nothing to redact (nearly every access log line) costs one pass instead of three.
_MAY_HOLD_SECRET = re.compile(r"(?i)token=|bearer|/callbacks/emag/")


def redact(text: str) -> str:
    if _MAY_HOLD_SECRET.search(text) is None:
        return text
    text = _CALLBACK_SECRET.sub(r"\1" + REDACTED, text)
    return _BEARER.sub(r"\1" + REDACTED, _TOKEN_PARAMETER.sub(r"\1" + REDACTED, text))


class RedactTokensFilter(logging.Filter):
    """Rewrites each record's message with token values redacted (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The same record passes twice (uvicorn's logger, then the handler): once is enough.
        if getattr(record, "magflow_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as usual
            return True
        # The message is kept formatted (redacted or not): the formatter does not format it again.
        record.msg = redact(message)
        record.args = None
        record.magflow_redacted = True
        return True


class TextFormatter(logging.Formatter):
    """``<time> <level> <logger>: <message>``, the time as logging writes it by default (local
    time, milliseconds after a comma); each second's text is made once, not once per line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)  # one assignment: safe across threads
        return f"{text},{int(record.msecs):03d}"  # logging's default_msec_format


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(fmt: LogFormat, level: str = "INFO") -> None:
    # Neither format writes the thread, the process or the caller's file, line and function: a
    # record need not look them up (about half of an access log line's cost, and there is one
    # per request; the switches of the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler()
    if fmt is LogFormat.json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    redacting = RedactTokensFilter()
    handler.addFilter(redacting)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # uvicorn's loggers write through this handler too (uvicorn's own logging config, if it ran,
    # gave them handlers of their own and stopped propagation), and redact on the logger as well,
    # in case someone adds a handler to them later.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.filters[:] = [f for f in logger.filters if not isinstance(f, RedactTokensFilter)]
        logger.addFilter(redacting)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep it quiet unless asked.
    logging.getLogger("httpx").setLevel(logging.WARNING)


#: A buffered handler writes what it holds once it holds this many characters...
FLUSH_CHARACTERS = 32_768
#: ... or this long after the first line it holds (or at once for a warning or worse).
FLUSH_SECONDS = 0.5


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A :class:`logging.StreamHandler` that writes its lines in batches: at
    :data:`FLUSH_CHARACTERS`, :data:`FLUSH_SECONDS` after the first line it holds, with any
    record at ``WARNING`` or worse (and everything before it, in order), and when logging shuts
    down (``logging.shutdown`` at exit flushes every handler).

    Why (issue 18, BENCHMARKS.md "load"): the API writes an access line per request, and that
    line was up to a fifth of what a small answer (the enhanced status) costs the API process;
    its write, a system call per line, is the part batching saves. A line reaches the log at
    most half a second late; a process killed outright (``SIGKILL``) loses at most that half
    second of lines below ``WARNING``.

    The timed write is done by one thread per handler, started with its first line and asleep
    while nothing is held. Not a timer thread per batch: starting a thread waits for it to run,
    and on a busy machine that stalled the event loop that logged the line for milliseconds."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._held: list[str] = []
        self._held_characters = 0
        #: Set while lines are held: the flushing thread waits for it.
        self._holding = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle).
        try:
            line = self.format(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._held.append(line)
        self._held_characters += len(line) + 1
        if record.levelno >= logging.WARNING or self._held_characters >= FLUSH_CHARACTERS:
            self.flush()
        elif not self._holding.is_set():
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_soon, name="magflow-log-flush", daemon=True
                )
                self._flusher.start()
            self._holding.set()

    def _flush_soon(self) -> None:
        while True:
            self._holding.wait()
            time.sleep(FLUSH_SECONDS)
            # A stream closed under the handler (which logging.shutdown ignores too): the lines
            # it held were reported by handleError, and the thread carries on.
            with contextlib.suppress(OSError, ValueError):
                self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                text = self.terminator.join(self._held) + self.terminator
                self._held.clear()
                self._held_characters = 0
                try:
                    self.stream.write(text)
                except Exception:
                    # What StreamHandler.emit does when its stream fails.
                    self.handleError(logging.makeLogRecord({"msg": text}))
            self._holding.clear()
            super().flush()


def buffer_lines() -> None:
    """Make the root logger's stream handler (``configure_logging``'s) a
    :class:`BufferedStreamHandler` with the same stream, format, filters and level: for the API
    server (``magflow.app.serve``), whose access log writes a line per request."""
    root = logging.getLogger()
    for index, handler in enumerate(root.handlers):
        if type(handler) is logging.StreamHandler:
            buffered = BufferedStreamHandler(handler.stream)
            buffered.setFormatter(handler.formatter)
            buffered.setLevel(handler.level)
            for kept_filter in handler.filters:
                buffered.addFilter(kept_filter)
            root.handlers[index] = buffered
