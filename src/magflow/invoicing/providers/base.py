"""What every external invoicing provider does, and how it fails.

Two failures, because they mean opposite things for "never issue twice":

- :class:`ProviderRefused`: the provider answered and issued nothing (bad series, expired token,
  invalid data). Safe to retry after the cause is fixed; the message is the provider's own.
- :class:`ProviderUnavailable`: no usable answer (timeout, 5xx, connection refused, garbage). For
  an *issue* call the outcome is unknown: the invoice may exist. The service then keeps the
  invoice in ``issuing`` and, before any new attempt, asks the provider with :meth:`Provider.find`
  whether the document with our reference exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class ProviderError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ProviderRefused(ProviderError):
    """The provider refused: nothing was issued."""


class ProviderUnavailable(ProviderError):
    """No usable answer: for an issue call, the outcome is unknown."""


class OutcomeUnknown(ProviderError):
    """The provider cannot tell whether an earlier attempt issued the document; a person must
    check before MagFlow issues again."""


@dataclass
class Issued:
    series: str
    number: str
    url: str | None = None
    raw: dict[str, Any] | None = None


class Provider(Protocol):
    name: str

    async def prepare(self, document: dict[str, Any]) -> str | None:
        """Anything to record before issuing (SmartBill: the series' next number); None if not."""

    async def issue(self, document: dict[str, Any]) -> Issued:
        """Issue the invoice or credit note (``document['kind']``) described by ``document``."""

    async def find(self, document: dict[str, Any], prepared: str | None) -> Issued | None:
        """The document an earlier attempt issued with ``document['reference']``, None if there
        is none; raises :class:`OutcomeUnknown` when the provider cannot tell."""

    async def pdf(self, issued: Issued, kind: str) -> bytes:
        """The document's PDF."""

    async def aclose(self) -> None: ...
