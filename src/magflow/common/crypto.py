"""Keys derived from the installation's secret key, one per purpose (HKDF-SHA256).

Deriving separate keys means a leak of, say, a JWT signing key says nothing about the key that
encrypts seller credentials at rest.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret_key: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"magflow", info=purpose.encode()
    ).derive(secret_key.encode())


class CredentialCipher:
    """Encrypts seller account passwords at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, secret_key: str) -> None:
        key = derive_key(secret_key, "emag-account-credentials")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError(
                "stored credentials cannot be decrypted: was MAGFLOW_SECRET_KEY changed?"
            ) from exc
