"""Credential data sealed with AES-256-GCM under a key ring, before any backend sees it.

The ring (`WF_ENCRYPTION_KEYS`) is `KEY_ID:BASE64_32_BYTES` entries, comma-separated,
newest first: the newest seals, every key opens what it sealed. A sealed value names its
format and its key, `wfenc:v1:<key id>:<base64url of nonce + ciphertext + tag>`, so
memory and the database hold the same text, and an old key can be retired once no value
names it. Each sealing draws a fresh 96-bit nonce; the associated data binds the value to
the record it belongs to (`context`: a credential's id and owner), so a value copied into
another row does not open. Nothing here ever puts key material or plaintext into an
error message."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import DomainError

FORMAT = "wfenc"
VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's own size
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,40}")
SETTING = "WF_ENCRYPTION_KEYS"


class KeyRingError(ValueError):
    """A ring that cannot be used; the message names the entry, never its key."""


class Undecryptable(DomainError):
    """A sealed value no key of the ring opens: its key is missing from the ring, or the
    value was changed or moved (the operator's to fix, not the client's)."""

    status = 503
    code = "credential_undecryptable"


@dataclass(frozen=True)
class Sealed:
    """The parts of a sealed value's text."""

    key_id: str
    payload: bytes  # nonce + ciphertext + tag

    @classmethod
    def parse(cls, text: str) -> Sealed | None:
        """None when `text` is not a sealed value of this format."""
        parts = text.split(":")
        if len(parts) != 4 or parts[:2] != [FORMAT, VERSION] or not KEY_ID.fullmatch(parts[2]):
            return None
        try:
            payload = base64.urlsafe_b64decode(parts[3].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(payload) < NONCE_BYTES + 16:  # a nonce and a tag at least
            return None
        return cls(parts[2], payload)

    def text(self) -> str:
        return f"{FORMAT}:{VERSION}:{self.key_id}:{base64.urlsafe_b64encode(self.payload).decode()}"


def key_id_of(text: str) -> str | None:
    """The key a sealed value names, or None when it is not one."""
    sealed = Sealed.parse(text)
    return sealed.key_id if sealed is not None else None


class KeyRing:
    """The keys, newest first (`ids`)."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError(f"{SETTING} holds no key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        self.ids: tuple[str, ...] = tuple(key_id for key_id, _ in keys)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate(text.split(","), start=1):
            key_id, colon, encoded = entry.strip().partition(":")
            where = f"{SETTING} entry {number}"
            if not colon or not KEY_ID.fullmatch(key_id):
                raise KeyRingError(
                    f"{where}: not KEY_ID:BASE64_32_BYTES (a key id is 1 to 40 letters, "
                    "digits, '.', '_' or '-')"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"{where} ({key_id}): the key is not base64 of 32 bytes")
            if key_id in (known for known, _ in keys):
                raise KeyRingError(f"{where}: key id {key_id} appears twice")
            keys.append((key_id, key))
        return cls(keys)

    @property
    def newest(self) -> str:
        return self.ids[0]

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._ciphers

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def seal(self, plaintext: bytes, context: bytes) -> str:
        """`plaintext` sealed with the newest key, bound to `context`."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.newest].encrypt(nonce, plaintext, context)
        return Sealed(self.newest, nonce + ciphertext).text()

    def open(self, text: str, context: bytes) -> bytes:
        """The plaintext of a sealed value bound to `context`, or `Undecryptable`."""
        sealed = Sealed.parse(text)
        if sealed is None:
            raise Undecryptable("the stored credential is not a sealed value")
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise Undecryptable(
                f"the stored credential is sealed with key {sealed.key_id}, which "
                f"{SETTING} does not hold",
                {"key_id": sealed.key_id},
            )
        nonce, ciphertext = sealed.payload[:NONCE_BYTES], sealed.payload[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise Undecryptable(
                "the stored credential does not open with its key: it was changed, or it "
                "belongs to another record",
                {"key_id": sealed.key_id},
            ) from None


def new_entry(key_id: str | None = None) -> str:
    """A ring entry with a fresh random key: `KEY_ID:BASE64_32_BYTES`."""
    key_id = key_id or f"k{date.today():%Y%m%d}{secrets.token_hex(2)}"
    if not KEY_ID.fullmatch(key_id):
        raise KeyRingError("a key id is 1 to 40 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
