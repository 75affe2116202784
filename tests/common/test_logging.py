"""``configure_logging``: the two formats, and records that skip what no format writes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from magflow.common.logging import configure_logging
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
