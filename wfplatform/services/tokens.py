"""Signed, expiring access tokens (itsdangerous, which Flask itself uses for sessions).

A token names its user and a stamp of the user's password hash: changing the password
invalidates every token issued before."""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..domain.users import User
from ..errors import Unauthorized

SALT = "wfplatform.access-token"


def password_stamp(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


class Tokens:
    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age_seconds = max_age_seconds

    def issue(self, user: User) -> str:
        return self._serializer.dumps({"sub": user.id, "pwd": password_stamp(user)})

    def read(self, token: str) -> tuple[str, str]:
        """The (user id, password stamp) a valid token carries."""
        try:
            payload = self._serializer.loads(token, max_age=self.max_age_seconds)
        except SignatureExpired:
            raise Unauthorized("the access token has expired; log in again") from None
        except BadSignature:
            raise Unauthorized("the access token is not valid") from None
        if not isinstance(payload, dict) or not {"sub", "pwd"} <= payload.keys():
            raise Unauthorized("the access token is not valid")
        return payload["sub"], payload["pwd"]
