"""The counts a mode switch's guards decide on, gathered so that the switch holds the gate
only for a moment.

Every operation of the process waits while a switch holds the gate, and a complete
comparison of a large repository takes long (half a minute for 100,000 workflows on
PostgreSQL). So the comparison runs before the switch takes the gate, with a `Watch` open
on the write tracker: it hears of every record written from then on, by units of work and
by the writers outside them (replay, load-memory, backfill, rollback, repairs, lazy
copies). Those records are compared again, outside the gate while they are many, and a
last time under it. A record nobody wrote since the comparison read it is still as it was
read, so the counts are those a complete comparison under the gate would find. Writes the
tracker cannot hear of (another process's, SQL run behind the adapter's back) race this
comparison as they raced one under the gate: the gate never held them either.

A step whose guards use no comparison (`readiness.compares`) makes none; the database is
asked for one row of the repository's table instead, so "the database does not answer"
still refuses a step that uses it. What could not be done before the gate because the
database did not answer is done under it (as it all was before). The journals and recent
counts, this process's and the others', are read under the gate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import StorageUnavailable
from . import fleet
from .locks import Watch
from .modes import RepositoryMode
from .parts import StorageParts
from .readiness import BackendCounts, backend_counts, compares
from .verify import KINDS, compare_repository, probe, recheck, scan

WATCHED_KEYS = 20_000  # per repository; past it the watch gives up: compare anew
CATCH_UP_ROUNDS = 5  # looks before the gate at what was written meanwhile
UNDER_THE_GATE = 10  # written keys few enough to look at with every operation waiting

Step = tuple[RepositoryMode, RepositoryMode]  # (current, target)


@contextmanager
def gathered(parts: StorageParts, steps: dict[str, Step]) -> Iterator[GuardCounts]:
    """`GuardCounts` for the repositories' (current, target) steps, the comparisons made;
    take the gate inside, then ask for the counts."""
    compared = [name for name, (current, target) in steps.items() if compares(current, target)]
    with parts.tracker.watching(compared, WATCHED_KEYS) as watch:
        counts = GuardCounts(parts, watch)
        for name, (current, target) in steps.items():
            counts.prepare(name, current, target)
        counts.catch_up()
        yield counts


class GuardCounts:
    def __init__(self, parts: StorageParts, watch: Watch) -> None:
        self._parts = parts
        self._watch = watch
        self._differences: dict[str, dict[str, str]] = {}  # by repository, then key
        self._probed: set[str] = set()
        self._database_down = False  # before the gate: what is left is done under it
        self._others: fleet.Others | StorageUnavailable | None = None

    def prepare(self, name: str, current: RepositoryMode, target: RepositoryMode) -> None:
        """Before the gate: the comparison (or the probe) the step needs."""
        if self._database_down:
            return
        try:
            if compares(current, target):
                self._watch.restart(name)
                self._differences[name] = scan(self._parts, name)
            elif target.uses_database:
                probe(self._parts, name)
                self._probed.add(name)
        except StorageUnavailable:
            self._database_down = True

    def catch_up(self) -> None:
        """Before the gate: look again at what was written meanwhile while that is more
        than the gate should wait for. A repository whose watch gave up (writes outran
        it) is compared anew, once; if it gives up again, it is compared under the gate."""
        if self._database_down:
            return
        compared_anew: set[str] = set()
        try:
            for _ in range(CATCH_UP_ROUNDS):
                behind = [name for name in self._differences if not self._nearly_settled(name)]
                if not behind:
                    return
                for name in behind:
                    if self._watch.pending(name) is not None:
                        self._look_again(name)
                    elif name in compared_anew:
                        del self._differences[name]
                    else:
                        compared_anew.add(name)
                        self._watch.restart(name)
                        self._differences[name] = scan(self._parts, name)
        except StorageUnavailable:
            self._database_down = True

    def _nearly_settled(self, name: str) -> bool:
        pending = self._watch.pending(name)
        return pending is not None and pending <= UNDER_THE_GATE

    def counts(self, name: str, current: RepositoryMode, target: RepositoryMode) -> BackendCounts:
        """Under the gate, for the step as it is now (modes may have changed meanwhile)."""
        return backend_counts(
            self._parts,
            name,
            compare=lambda: self._settle(name, current, target),
            others=self._others_now,
        )

    def _look_again(self, name: str) -> bool:
        """Compare again the keys written since the last look; False if the watch gave up.
        A look the database cuts short leaves the repository to a complete comparison."""
        written = self._watch.take(name)
        if written is None:
            return False
        differences = self._differences.pop(name)
        for key in written:
            differences.pop(key, None)
        differences.update(recheck(self._parts, name, sorted(written)))
        self._differences[name] = differences
        return True

    def _settle(
        self, name: str, current: RepositoryMode, target: RepositoryMode
    ) -> dict[str, int] | None:
        if not compares(current, target):
            if target.uses_database and name not in self._probed:
                probe(self._parts, name)
            return None
        if name not in self._differences or not self._look_again(name):
            # not compared before the gate (a switch elsewhere changed the step meanwhile,
            # or the database did not answer), or writes outran the watch: the complete
            # comparison, here
            return compare_repository(self._parts, name)["counts"]
        found = dict.fromkeys(KINDS, 0)
        for kind in self._differences[name].values():
            found[kind] += 1
        return found

    def _others_now(self) -> fleet.Others:
        """What the other processes published, asked once per switch, under the gate (a
        database that does not answer is asked once too)."""
        if self._others is None:
            try:
                self._others = fleet.others(self._parts)
            except StorageUnavailable as fault:
                self._others = fault
        if isinstance(self._others, StorageUnavailable):
            raise self._others
        return self._others
