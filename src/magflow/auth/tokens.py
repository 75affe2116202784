"""JWT access and refresh tokens (HS256, key derived from the secret key)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from magflow.common.crypto import derive_key

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """The token is malformed, tampered with, expired or of the wrong type."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    token_type: TokenType
    version: int
    expires_at: datetime
    jti: str = ""
    #: The login a refresh token descends from (see ``RefreshToken``); empty on access tokens.
    family: str = ""


#: Tokens whose verified claims :class:`TokenService` remembers (cleared when full).
DECODED_CACHE_SIZE = 4096


class TokenService:
    def __init__(self, secret_key: str, access_minutes: int, refresh_days: int) -> None:
        self._key = derive_key(secret_key, "jwt-signing")
        self.access_lifetime = timedelta(minutes=access_minutes)
        self.refresh_lifetime = timedelta(days=refresh_days)
        # token → its claims, once verified: every API request presents the same few tokens,
        # and verifying one costs more than the rest of the authentication. Only the expiry can
        # change the verdict on a token already verified, so it is checked again on each use.
        self._decoded: dict[tuple[str, TokenType], TokenClaims] = {}

    def issue(
        self,
        user_id: int,
        token_type: TokenType,
        version: int,
        *,
        jti: str | None = None,
        family: str | None = None,
    ) -> str:
        now = datetime.now(UTC)
        lifetime = self.refresh_lifetime if token_type == "refresh" else self.access_lifetime
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "type": token_type,
            "ver": version,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or uuid.uuid4().hex,
        }
        if family:
            payload["fam"] = family
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        claims = self._decoded.get((token, expected))
        if claims is not None:
            # PyJWT's rule: expired when exp <= now.
            if claims.expires_at.timestamp() <= time.time():
                del self._decoded[(token, expected)]
                raise InvalidTokenError("token has expired")
            return claims
        claims = self._verify(token, expected)
        if len(self._decoded) >= DECODED_CACHE_SIZE:
            self._decoded.clear()
        self._decoded[(token, expected)] = claims
        return claims

    def _verify(self, token: str, expected: TokenType) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "type", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("token is invalid") from exc
        if payload.get("type") != expected:
            article = "an" if expected == "access" else "a"
            raise InvalidTokenError(f"expected {article} {expected} token")
        try:
            user_id = int(payload["sub"])
            version = int(payload.get("ver", 0))
        except (TypeError, ValueError) as exc:
            raise InvalidTokenError("token is invalid") from exc
        return TokenClaims(
            user_id=user_id,
            token_type=expected,
            version=version,
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            jti=str(payload.get("jti") or ""),
            family=str(payload.get("fam") or ""),
        )
