"""The key ring credentials are sealed with: AES-256-GCM, a fresh nonce per seal, bound to
its record, the newest key sealing and every key opening; a ring that cannot be used is
refused with a message that names the entry and never holds a key."""

from __future__ import annotations

import base64

import pytest

from wfplatform.services.encryption import (
    KeyRing,
    KeyRingError,
    Sealed,
    Undecryptable,
    key_id_of,
    new_entry,
)

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()
CONTEXT = b"wfplatform.credential\0id-1\0owner-1"


def test_the_newest_key_seals_and_every_key_opens():
    before = KeyRing.parse(OLD).seal(b'{"token":"s3cret"}', CONTEXT)
    ring = KeyRing.parse(f"{NEW}, {OLD}")
    after = ring.seal(b'{"token":"s3cret"}', CONTEXT)
    assert (key_id_of(before), key_id_of(after)) == ("old", "new")
    assert ring.open(before, CONTEXT) == ring.open(after, CONTEXT) == b'{"token":"s3cret"}'
    assert ring.ids == ("new", "old") and ring.newest == "new"


def test_a_seal_holds_no_plaintext_and_never_repeats():
    ring = KeyRing.parse(NEW)
    seals = {ring.seal(b"s3cret s3cret s3cret", CONTEXT) for _ in range(50)}
    assert len(seals) == 50  # a fresh nonce each time
    for text in seals:
        assert text.startswith("wfenc:v1:new:")
        assert "s3cret" not in text
        assert b"s3cret" not in Sealed.parse(text).payload


@pytest.mark.parametrize(
    "context", [b"wfplatform.credential\0id-2\0owner-1", b"wfplatform.credential\0id-1\0owner-2"]
)
def test_a_value_moved_to_another_record_or_owner_does_not_open(context):
    ring = KeyRing.parse(NEW)
    sealed = ring.seal(b"secret", CONTEXT)
    with pytest.raises(Undecryptable, match="belongs to another record"):
        ring.open(sealed, context)


def test_a_tampered_value_does_not_open():
    ring = KeyRing.parse(NEW)
    parsed = Sealed.parse(ring.seal(b"secret", CONTEXT))
    for position in (0, 12, len(parsed.payload) - 1):  # nonce, ciphertext, tag
        changed = bytearray(parsed.payload)
        changed[position] ^= 1
        with pytest.raises(Undecryptable):
            ring.open(Sealed(parsed.key_id, bytes(changed)).text(), CONTEXT)


def test_a_value_under_a_key_the_ring_lacks_names_the_key():
    sealed = KeyRing.parse(OLD).seal(b"secret", CONTEXT)
    with pytest.raises(Undecryptable) as missing:
        KeyRing.parse(NEW).open(sealed, CONTEXT)
    assert missing.value.details == {"key_id": "old"}
    assert missing.value.status == 503


@pytest.mark.parametrize(
    "text", ["", "plain text", "wfenc:v1:new", "wfenc:v2:new:AAAA", "wfenc:v1:new:!!"]
)
def test_text_that_is_no_sealed_value_is_refused(text):
    with pytest.raises(Undecryptable, match="not a sealed value"):
        KeyRing.parse(NEW).open(text, CONTEXT)


SECRET_KEY_TEXT = base64.b64encode(b"k" * 31).decode()  # one byte short


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("", "entry 1: not KEY_ID:BASE64_32_BYTES"),
        ("no-colon", "entry 1: not KEY_ID:BASE64_32_BYTES"),
        (f"bad id!:{SECRET_KEY_TEXT}", "entry 1: not KEY_ID"),
        (f"{NEW},short:{SECRET_KEY_TEXT}", "entry 2 (short): the key is not base64 of 32 bytes"),
        (f"{NEW},x:not base64 at all", "entry 2 (x): the key is not base64 of 32 bytes"),
        (f"{NEW},{NEW}", "entry 2: key id new appears twice"),
    ],
)
def test_a_ring_that_cannot_be_used_is_refused_without_its_keys(ring, message):
    with pytest.raises(KeyRingError) as refused:
        KeyRing.parse(ring)
    assert message in str(refused.value)
    assert SECRET_KEY_TEXT not in str(refused.value)
    assert NEW.split(":")[1] not in str(refused.value)


def test_a_new_entry_is_a_ring_of_its_own():
    entry = new_entry("2026-12")
    ring = KeyRing.parse(entry)
    assert ring.ids == ("2026-12",)
    assert new_entry() != new_entry()
    assert KeyRing.parse(new_entry()).newest.startswith("k")
    with pytest.raises(KeyRingError):
        new_entry("bad id!")
