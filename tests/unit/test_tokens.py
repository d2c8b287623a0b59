"""Access tokens: a remembered verification never outlives the token, and what fails to
verify is never remembered."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from wfplatform.errors import Unauthorized
from wfplatform.services.tokens import Tokens, password_stamp

USER = SimpleNamespace(id="user-1", password_hash="$argon2id$v=19$m=1024,t=1,p=1$abc$def")


def test_a_verified_token_names_its_user_and_password_stamp():
    tokens = Tokens("signing key", max_age_seconds=60)
    token = tokens.issue(USER)
    assert tokens.read(token) == ("user-1", password_stamp(USER))
    assert tokens.read(token) == ("user-1", password_stamp(USER))  # remembered, the same


def test_a_remembered_token_still_expires(monkeypatch):
    tokens = Tokens("signing key", max_age_seconds=60)
    token = tokens.issue(USER)
    tokens.read(token)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.read(token)


def test_a_token_that_expired_before_its_first_use_is_refused(monkeypatch):
    tokens = Tokens("signing key", max_age_seconds=60)
    token = tokens.issue(USER)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.read(token)


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: Tokens("another key", 60).issue(USER),
        lambda token: "not.a.token",
    ],
    ids=["altered signature", "another key", "garbage"],
)
def test_a_token_that_does_not_verify_is_refused_every_time(forge):
    tokens = Tokens("signing key", max_age_seconds=60)
    forged = forge(tokens.issue(USER))
    for _ in range(2):
        with pytest.raises(Unauthorized, match="not valid"):
            tokens.read(forged)
