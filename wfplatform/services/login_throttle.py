"""Failed logins back off instead of locking accounts (OWASP's authentication cheat sheet).

Three counts, each with its own threshold, after which the next attempt waits 1 s, then
2, 4, ... up to `longest_backoff` seconds, doubling with every further failure:

- per account and client address (an IPv6 client by its /64 network, see `addresses`): a
  guesser slows down, the owner elsewhere does not;
- per client address, whatever the account: one address trying many accounts;
- per account from addresses it has not logged in from lately: guesses spread over many
  addresses. Each address adds at most its own threshold to this count, so one address
  alone never slows the owner down anywhere else, and addresses the account logged in
  from in the last 30 days are never held back by it.

The counts live in the rate limiter's storage (the `limits` library: process memory, or
Redis shared by every process), not in the users table, so an email nobody registered is
counted exactly like a registered one and nothing in the answers tells them apart. Keys
hold a digest of the email, never the email, and the account's password stamp: a new
password starts the account's counts afresh. Counts are forgotten a day after the first
failure of each.

While the counters do not answer (Redis down), a login is refused as a 503 rather than let
through uncounted: the throttle is what stands between a password and a guesser, and
whoever could knock the counters over would otherwise guess freely. Bearer tokens and API
keys issued before keep working."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from limits.errors import StorageError
from limits.storage import Storage as Counters

from ..errors import StorageUnavailable, TooManyAttempts
from .addresses import client_key
from .rate_limits import CounterFaults

log = logging.getLogger(__name__)
FAILURES_REMEMBERED = 24 * 3600
FAMILIAR_FOR = 30 * 24 * 3600
BACKING_OFF = "too many failed attempts; try again later"


@dataclass(frozen=True)
class ThrottlePolicy:
    per_account_and_address: int = 5
    per_account: int = 20
    per_address: int = 20
    longest_backoff: int = 900


@dataclass(frozen=True)
class Attempt:
    """An authentication with a password: the email as typed, the client address, and the
    account's password stamp (empty for an unknown email)."""

    email: str
    address: str
    generation: str = ""

    @property
    def email_digest(self) -> str:
        return hashlib.sha256(self.email.strip().lower().encode()).hexdigest()[:32]

    @property
    def account(self) -> str:
        return f"{self.email_digest}:{self.generation}"


@dataclass(frozen=True)
class Admission:
    """What `admit` counted, for `succeeded` to take back."""

    counted_account: bool


class LoginThrottle:
    def __init__(self, counters: Counters, policy: ThrottlePolicy, prefix: str) -> None:
        self.counters = counters
        self.policy = policy
        self.prefix = f"{prefix}:login" if prefix else "login"
        self._faults = CounterFaults("failed logins are")

    @contextmanager
    def _counting(self) -> Iterator[None]:
        try:
            yield
        except StorageError as fault:
            self._faults.failed(fault)
            raise StorageUnavailable("rate limiter", "failed logins cannot be counted") from fault
        self._faults.answered()

    def check(self, attempt: Attempt) -> None:
        """Raise `TooManyAttempts` while any count that applies to `attempt` backs off."""
        with self._counting():
            self._check(attempt)

    def _check(self, attempt: Attempt) -> None:
        kinds = ["pair", "address"] if self._familiar(attempt) else ["pair", "address", "account"]
        wait = max(self._remaining(f"{self._key(kind, attempt)}:wait") for kind in kinds)
        if wait > 0:
            raise TooManyAttempts(BACKING_OFF, retry_after=wait)

    def admit(self, attempt: Attempt) -> Admission:
        """Count `attempt` as a failure before its password is checked (`succeeded` takes
        that back). Past a threshold each wait admits one attempt: the first to take the
        wait's turn (an atomic increment), so guesses sent at once get no further than
        guesses sent one by one. Raises `TooManyAttempts` for the others."""
        with self._counting():
            return self._admit(attempt)

    def _admit(self, attempt: Attempt) -> Admission:
        self._check(attempt)
        policy = self.policy
        pair, pair_turn = self._count("pair", policy.per_account_and_address, attempt)
        _, address_turn = self._count("address", policy.per_address, attempt)
        account_turn, counted_account = True, pair <= policy.per_account_and_address
        if counted_account:
            _, account_turn = self._count("account", policy.per_account, attempt)
        if not (pair_turn and address_turn and account_turn):
            self._check(attempt)  # raises: another attempt holds this wait's turn
        return Admission(counted_account=counted_account)

    def succeeded(self, attempt: Attempt, admission: Admission) -> None:
        """Take back what `admit` counted, forgive this address its failures on this
        account, and remember it as familiar."""
        with self._counting():
            self._forgive(attempt, admission)

    def _forgive(self, attempt: Attempt, admission: Admission) -> None:
        kinds = ("address", "account") if admission.counted_account else ("address",)
        for kind in kinds:
            self.counters.incr(self._key(kind, attempt), FAILURES_REMEMBERED, amount=-1)
        pair = self._key("pair", attempt)
        self.counters.clear(pair)
        self.counters.clear(f"{pair}:wait")
        familiar = self._key("familiar", attempt)
        self.counters.clear(familiar)
        self.counters.incr(familiar, FAMILIAR_FOR)

    def _count(self, kind: str, threshold: int, attempt: Attempt) -> tuple[int, bool]:
        """The failures of one count with this attempt, and whether it may go on: below
        the threshold always; past it, if it took the turn of the wait it starts."""
        key = self._key(kind, attempt)
        failures = self.counters.incr(key, FAILURES_REMEMBERED)
        if failures == threshold:  # once per count: an attack must not flood the log
            log.warning(
                "failed logins back off: %d per %s (email digest %s, address %s)",
                threshold,
                kind,
                attempt.email_digest,
                attempt.address,
            )
        if failures < threshold:
            return failures, True
        wait = min(self.policy.longest_backoff, 2 ** min(failures - threshold, 32))
        return failures, self.counters.incr(f"{key}:wait", wait) == 1

    def _remaining(self, key: str) -> int:
        if self.counters.get(key) == 0:
            return 0
        return max(1, math.ceil(self.counters.get_expiry(key) - time.time()))

    def _familiar(self, attempt: Attempt) -> bool:
        return self.counters.get(self._key("familiar", attempt)) > 0

    def _key(self, kind: str, attempt: Attempt) -> str:
        """`pair` and `account` carry the password stamp (a new password starts afresh);
        `familiar` does not (a password change does not make the owner a stranger)."""
        client = client_key(attempt.address)
        scope = {
            "pair": f"{attempt.account}:{client}",
            "address": client,
            "account": attempt.account,
            "familiar": f"{attempt.email_digest}:{client}",
        }[kind]
        return f"{self.prefix}:{kind}:{scope}"
