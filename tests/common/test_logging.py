"""``configure_logging``: the two formats, and records that skip what no format writes;
``buffer_lines``: the API server's lines written in batches, in order, nothing lost."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from magflow.common import logging as magflow_logging
from magflow.common.logging import (
    BufferedStreamHandler,
    TextFormatter,
    buffer_lines,
    configure_logging,
)
from magflow.settings import LogFormat


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved_switches = (
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
        logging._srcfile,
    )
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved_uvicorn = [
        (lg.handlers[:], lg.filters[:], lg.propagate, lg.level) for lg in uvicorn_loggers
    ]
    for lg in uvicorn_loggers:  # a uvicorn server started earlier in this process sets them
        lg.setLevel(logging.NOTSET)
    yield
    root.handlers[:], level = saved_root
    root.setLevel(level)
    (
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
        logging._srcfile,
    ) = saved_switches
    for lg, (handlers, filters, propagate, level) in zip(
        uvicorn_loggers, saved_uvicorn, strict=True
    ):
        lg.handlers[:], lg.filters[:], lg.propagate = handlers, filters, propagate
        lg.setLevel(level)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_an_access_line_is_written_without_looking_up_its_caller(
    fmt: LogFormat, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt, "INFO")
    kept = _Keep()
    logging.getLogger().addHandler(kept)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5555",
        "GET",
        "/api/v1/emag/offers?token=abc",
        "1.1",
        200,
    )
    line = capsys.readouterr().err.strip()
    if fmt is LogFormat.json:
        payload = json.loads(line)
        assert payload["level"] == "INFO" and payload["logger"] == "uvicorn.access"
        message = payload["message"]
    else:
        assert " INFO uvicorn.access: " in line
        message = line.split(": ", 1)[1]
    assert message == '127.0.0.1:5555 - "GET /api/v1/emag/offers?token=[redacted] HTTP/1.1" 200'
    # Neither format writes the caller's file, line or function, nor the thread or process: the
    # record was made without looking them up (logging's own markers for "not looked up").
    (record,) = kept.records
    assert (record.funcName, record.lineno, record.pathname) == (
        "(unknown function)",
        0,
        "(unknown file)",
    )
    assert record.thread is None and record.process is None


def test_the_servers_lines_are_buffered_with_the_same_format_and_redaction(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LogFormat.json, "INFO")
    buffer_lines()
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, BufferedStreamHandler)
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/x?token=abc", "1.1", 200)
    assert capsys.readouterr().err == ""  # held
    handler.flush()
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == '127.0.0.1:1 - "GET /x?token=[redacted] HTTP/1.1" 200'


def handler_on(stream: io.TextIOBase) -> tuple[BufferedStreamHandler, logging.Logger]:
    handler = BufferedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"magflow.test.buffered.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers[:] = [handler]
    return handler, logger


def test_a_warning_writes_every_line_held_before_it_in_order() -> None:
    stream = io.StringIO()
    _handler, logger = handler_on(stream)
    logger.info("one")
    logger.info("two")
    assert stream.getvalue() == ""
    logger.warning("three")
    assert stream.getvalue() == "INFO one\nINFO two\nWARNING three\n"
    logger.error("four")  # nothing held: written at once
    assert stream.getvalue().endswith("INFO two\nWARNING three\nERROR four\n")


def test_lines_are_written_when_enough_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(magflow_logging, "FLUSH_CHARACTERS", 30)
    stream = io.StringIO()
    handler, logger = handler_on(stream)
    for n in range(4):
        logger.info("line %d", n)  # "INFO line n\n": 12 characters each
    assert stream.getvalue() == "INFO line 0\nINFO line 1\nINFO line 2\n"
    handler.flush()
    assert stream.getvalue().endswith("INFO line 3\n")


def test_held_lines_are_written_soon_without_another_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(magflow_logging, "FLUSH_SECONDS", 0.05)
    stream = io.StringIO()
    handler, logger = handler_on(stream)
    logger.info("alone")
    deadline = time.monotonic() + 10
    while stream.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "INFO alone\n"
    flusher = handler._flusher
    logger.info("again")  # the same thread writes the next batch
    assert handler._flusher is flusher
    deadline = time.monotonic() + 10
    while stream.getvalue() == "INFO alone\n" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "INFO alone\nINFO again\n"


def test_logging_shutdown_writes_what_is_held() -> None:
    stream = io.StringIO()
    handler, logger = handler_on(stream)
    logger.info("last words")
    logging.shutdown([lambda: handler])  # what runs at exit, for this handler alone
    assert stream.getvalue() == "INFO last words\n"


def test_the_text_format_writes_each_time_as_logging_does() -> None:
    standard = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    ours = TextFormatter()
    # The same second twice (its text kept), the next second, and back to an earlier one.
    for created in (1796099061.5, 1796099061.9999, 1796099062.0421, 1796099061.0, 1.5):
        record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %d", ("a", 1), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)


def test_the_flushing_thread_outlives_a_closed_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(magflow_logging, "FLUSH_SECONDS", 0.05)
    monkeypatch.setattr(logging, "raiseExceptions", False)  # handleError: no traceback printed
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    stream = io.TextIOWrapper(io.BytesIO())  # as pytest's capture: closed, even flush() fails
    handler, logger = handler_on(stream)
    logger.info("held when the stream closes")
    stream.close()
    deadline = time.monotonic() + 10
    while handler._holding.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert not handler._holding.is_set()
    assert failures == []
    assert handler._flusher is not None and handler._flusher.is_alive()
