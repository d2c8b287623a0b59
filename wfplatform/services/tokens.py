"""Signed, expiring access tokens (itsdangerous, which Flask itself uses for sessions).

A token names its user and a stamp of the user's password hash: changing the password
invalidates every token issued before. A process remembers the tokens it verified lately
(`VERIFIED_TOKENS`), so a client's next request costs no signature check; what a token
says about its user is checked against the user on every request all the same."""

from __future__ import annotations

import functools
import hashlib
import time

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..domain.users import User
from ..errors import Unauthorized

SALT = "wfplatform.access-token"
VERIFIED_TOKENS = 4096
EXPIRED = "the access token has expired; log in again"


def password_stamp(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


class Tokens:
    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age_seconds = max_age_seconds
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def issue(self, user: User) -> str:
        return self._serializer.dumps({"sub": user.id, "pwd": password_stamp(user)})

    def read(self, token: str) -> tuple[str, str]:
        """The (user id, password stamp) a valid token carries."""
        user_id, stamp, expires_at = self._verified(token)
        if time.time() > expires_at:
            raise Unauthorized(EXPIRED)
        return user_id, stamp

    def _verify(self, token: str) -> tuple[str, str, float]:
        """The token's user id, stamp and expiry; an invalid token raises (and so is not
        remembered)."""
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=self.max_age_seconds, return_timestamp=True
            )
        except SignatureExpired:
            raise Unauthorized(EXPIRED) from None
        except BadSignature:
            raise Unauthorized("the access token is not valid") from None
        if not isinstance(payload, dict) or not {"sub", "pwd"} <= payload.keys():
            raise Unauthorized("the access token is not valid")
        return payload["sub"], payload["pwd"], signed_at.timestamp() + self.max_age_seconds
