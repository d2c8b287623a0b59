"""The login back-off on its own, over the `limits` library's memory storage."""

from __future__ import annotations

import pytest
from limits.storage import MemoryStorage

from wfplatform.errors import TooManyAttempts
from wfplatform.services.login_throttle import Attempt, LoginThrottle, ThrottlePolicy


def throttle(**policy) -> LoginThrottle:
    defaults = {"per_account_and_address": 2, "per_account": 100, "per_address": 100}
    return LoginThrottle(MemoryStorage(), ThrottlePolicy(**{**defaults, **policy}), "test")


def fail(throttle: LoginThrottle, attempt: Attempt) -> None:
    """A wrong password, sent once every wait is over (waits are cut short here)."""
    for key in [key for key in throttle.counters.storage if key.endswith(":wait")]:
        throttle.counters.clear(key)
    throttle.admit(attempt)


def retry_after(throttle: LoginThrottle, attempt: Attempt) -> int | None:
    try:
        throttle.check(attempt)
    except TooManyAttempts as refused:
        return refused.retry_after
    return None


def test_the_back_off_doubles_with_each_failure_up_to_the_longest():
    guarded = throttle(longest_backoff=8)
    attempt = Attempt("ada@example.com", "203.0.113.1")
    seen = []
    for _ in range(6):
        fail(guarded, attempt)
        seen.append(retry_after(guarded, attempt))
    assert seen == [None, 1, 2, 4, 8, 8]


def test_one_address_counts_at_most_its_own_share_against_the_account():
    guarded = throttle(per_account=4)
    owner = Attempt("ada@example.com", "198.51.100.1")  # the owner's address
    guarded.succeeded(owner, guarded.admit(owner))
    for _ in range(10):
        fail(guarded, Attempt("ada@example.com", "203.0.113.1"))
    assert retry_after(guarded, Attempt("ada@example.com", "203.0.113.9")) is None
    for _ in range(2):
        fail(guarded, Attempt("ada@example.com", "203.0.113.2"))
    assert retry_after(guarded, Attempt("ada@example.com", "203.0.113.9")) == 1
    assert retry_after(guarded, Attempt("ada@example.com", "198.51.100.1")) is None


def test_a_new_password_starts_the_counts_afresh():
    guarded = throttle()
    for _ in range(2):
        fail(guarded, Attempt("ada@example.com", "203.0.113.1", generation="old"))
    assert retry_after(guarded, Attempt("ada@example.com", "203.0.113.1", "old")) == 1
    assert retry_after(guarded, Attempt("ada@example.com", "203.0.113.1", "new")) is None


@pytest.mark.parametrize("email", ["Ada@Example.com ", "ada@example.com"])
def test_emails_count_whatever_their_case(email):
    guarded = throttle()
    for _ in range(2):
        fail(guarded, Attempt(email, "203.0.113.1"))
    assert retry_after(guarded, Attempt("ADA@example.COM", "203.0.113.1")) == 1


def test_a_back_off_is_logged_once_without_the_email(caplog):
    guarded = throttle()
    for _ in range(5):
        fail(guarded, Attempt("ada@example.com", "203.0.113.1"))
    (line,) = [record.getMessage() for record in caplog.records]
    assert "per pair" in line and "203.0.113.1" in line
    assert "ada@example.com" not in caplog.text
