"""The provider of an account's invoicing settings, with its decrypted credentials."""

from __future__ import annotations

import json
from typing import Any

from magflow.common.crypto import CredentialCipher
from magflow.invoicing.models import InvoicingSettings, ProviderName
from magflow.invoicing.providers.base import Issued, Provider, ProviderRefused


class BuiltinProvider:
    """The built-in provider issues inside MagFlow's own transaction
    (:meth:`magflow.invoicing.service.InvoicingService._issue_builtin`); its PDF is rendered at
    issue, so there is nothing to ask it afterwards."""

    name = "builtin"

    async def prepare(self, document: dict[str, Any]) -> str | None:
        return None

    async def issue(self, document: dict[str, Any]) -> Issued:
        raise ProviderRefused("the built-in provider issues inside MagFlow's transaction")

    async def find(self, document: dict[str, Any], prepared: str | None) -> Issued | None:
        return None

    async def pdf(self, issued: Issued, kind: str) -> bytes:
        raise ProviderRefused("the built-in PDF is rendered when the invoice is issued")

    async def aclose(self) -> None:
        return None


def credentials_of(cipher: CredentialCipher, settings: InvoicingSettings) -> dict[str, str]:
    if not settings.credentials_encrypted:
        return {}
    value = json.loads(cipher.decrypt(settings.credentials_encrypted))
    return {str(k): str(v) for k, v in value.items()}


def open_provider(settings: InvoicingSettings, cipher: CredentialCipher) -> Provider:
    name = ProviderName(settings.provider)
    if name is ProviderName.builtin:
        return BuiltinProvider()
    creds = credentials_of(cipher, settings)
    if name is ProviderName.smartbill:
        from magflow.invoicing.providers.smartbill import SmartBillProvider

        return SmartBillProvider(
            username=creds.get("username", ""),
            token=creds.get("token", ""),
            company_cui=settings.seller_cui,
            series=settings.series,
            base_url=settings.provider_base_url,
        )
    from magflow.invoicing.providers.oblio import OblioProvider

    return OblioProvider(
        email=creds.get("email", ""),
        secret=creds.get("secret", ""),
        company_cui=settings.seller_cui,
        series=settings.series,
        base_url=settings.provider_base_url,
    )
