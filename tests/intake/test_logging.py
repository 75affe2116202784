"""The callback secret never reaches a log line (pure logic: no backend)."""

from __future__ import annotations

from magflow.common.logging import redact


def test_the_access_log_line_of_a_callback_hides_its_secret() -> None:
    line = '127.0.0.1:5 - "GET /callbacks/emag/s3cr3t-Value_x/order?order_id=7 HTTP/1.1" 200'
    redacted = redact(line)
    assert "s3cr3t" not in redacted
    assert "/callbacks/emag/[redacted]/order?order_id=7" in redacted
