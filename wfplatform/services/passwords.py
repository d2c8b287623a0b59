"""Password hashing with Argon2id (argon2-cffi), the memory-hard winner of the Password
Hashing Competition; hashes carry their parameters, so raising the cost later re-hashes
each password at its owner's next login."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..domain.text import problem
from ..errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 256


class Passwords:
    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib)
        # Hashed once, so checking an unknown email costs what checking a known one does.
        self._decoy = self._hasher.hash("decoy password for unknown accounts")

    def hash(self, password: str) -> str:
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            raise ValidationFailed(
                "invalid password",
                {"password": f"between {MIN_LENGTH} and {MAX_LENGTH} characters"},
            )
        unstorable = problem(password)
        if unstorable:  # Argon2 hashes UTF-8: a lone surrogate cannot be encoded
            raise ValidationFailed("invalid password", {"password": f"holds {unstorable}"})
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` is the one hashed; never for text no password can hold."""
        if problem(password):
            return False
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
