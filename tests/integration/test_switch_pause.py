"""A switch compares the backends before it takes the gate: reads and writes go on during
the comparison, and the guards still see every difference the writes made meanwhile.

The comparison is held on purpose (`HeldComparison`) while the test reads and writes; the
wait for release has a bound only so that a switch that holds the gate during its
comparison fails the test instead of hanging it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from tests.factories import make_user, make_workflow
from wfplatform.errors import GuardRefused
from wfplatform.repositories.memory import MemoryRepository
from wfplatform.storage import guard_counts
from wfplatform.storage.modes import DATABASE, MEMORY

PATIENCE = 10.0  # seconds a held comparison waits for release before going on regardless


class HeldComparison:
    """Holds the switch thread's first `times` passes over memory's records of
    `repository`, each before its first record (`at="start"`) or after its last
    (`at="end"`), until released; counts the thread's passes over any repository."""

    def __init__(self, monkeypatch, repository: str, at: str, times: int = 1) -> None:
        self._reached = [threading.Event() for _ in range(times)]
        self._released = [threading.Event() for _ in range(times)]
        self.released_in_time: list[bool] = []
        self.passes = 0
        iter_all = MemoryRepository.iter_all
        held = self

        def iterate(repository_self, *args, **kwargs) -> Iterator:
            number = None
            if threading.current_thread().name == "switch":
                held.passes += 1
                reached = sum(event.is_set() for event in held._reached)
                if repository_self.spec.name == repository and reached < times:
                    number = reached
            if number is not None and at == "start":
                held._hold(number)
            yield from iter_all(repository_self, *args, **kwargs)
            if number is not None and at == "end":
                held._hold(number)

        monkeypatch.setattr(MemoryRepository, "iter_all", iterate)

    def _hold(self, number: int) -> None:
        self._reached[number].set()
        self.released_in_time.append(self._released[number].wait(PATIENCE))

    def wait(self, number: int = 0) -> bool:
        return self._reached[number].wait(PATIENCE)

    def release(self, number: int = 0) -> None:
        self._released[number].set()


class SwitchThread(threading.Thread):
    """`storage.switch(...)` in a thread named "switch"; its result or error afterwards."""

    def __init__(self, storage, mode: str, **options) -> None:
        super().__init__(name="switch", daemon=True)
        self.storage, self.mode, self.options = storage, mode, options
        self.result: dict | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.result = self.storage.switch(self.mode, reason="test", actor="ops", **self.options)
        except Exception as error:
            self.error = error


def backfilled(make_storage, read_from: str):
    """A storage in dual reading `read_from`, memory and the database equal."""
    storage = make_storage("dual", read_from=read_from)
    owner = storage.users.add(make_user())
    storage.workflows.add(make_workflow(owner))
    return storage, owner


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "switch"])
def test_reads_and_writes_go_on_while_a_switch_compares_the_backends(
    make_storage, monkeypatch, dry_run
):
    storage, owner = backfilled(make_storage, MEMORY)
    held = HeldComparison(monkeypatch, "workflows", at="start")
    switch = SwitchThread(storage, "dual", read_from=DATABASE, dry_run=dry_run)
    switch.start()
    assert held.wait()

    assert storage.users.get(owner.id) == owner
    added = storage.users.add(make_user())
    held.release()
    switch.join()

    assert held.released_in_time == [True]  # the read and the write did not wait for it
    assert switch.error is None
    assert storage.parts.modes.get("users").read_from == (MEMORY if dry_run else DATABASE)
    assert storage.users.get(added.id) == added


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "switch"])
@pytest.mark.parametrize(
    ("write", "reason"),
    [
        ("rename", "1 records differ between memory and the database: load memory first"),
        ("delete", "1 records exist only in the database: load memory first"),
    ],
)
def test_a_difference_written_during_the_comparison_is_still_refused(
    make_storage, monkeypatch, dry_run, write, reason
):
    """Walking reads back to memory: the user was compared (equal) before a write that the
    database does not get (it is marked down: the write goes to memory and the journal),
    so only a second look at what was written meanwhile finds the difference."""
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user(name="before"))
    held = HeldComparison(monkeypatch, "users", at="end")
    switch = SwitchThread(storage, "dual", read_from=MEMORY, dry_run=dry_run)
    switch.start()
    assert held.wait()

    storage.parts.health.mark_down("a blip")
    if write == "rename":
        storage.users.update(dataclasses.replace(user, name="after"))
    else:
        storage.users.delete(user.id)
    storage.parts.health.mark_up()
    held.release()
    switch.join()

    assert held.released_in_time == [True]
    assert isinstance(switch.error, GuardRefused), switch.result
    assert switch.error.details["refused"]["users"] == [reason]
    assert storage.parts.modes.get("users").read_from == DATABASE


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "switch"])
def test_a_difference_settled_during_the_comparison_no_longer_refuses(
    make_storage, monkeypatch, dry_run
):
    """The other way round: the user existed only in memory when it was compared, then a
    workflow written for it copied it to the database (a parent goes first). A comparison
    made now finds nothing, and neither may the guard."""
    storage = make_storage("memory-only")
    owner = storage.users.add(make_user())
    storage.switch("dual", reason="start the cut-over", actor="ops")
    held = HeldComparison(monkeypatch, "users", at="end")
    switch = SwitchThread(storage, "dual", read_from=DATABASE, dry_run=dry_run)
    switch.start()
    assert held.wait()

    storage.workflows.add(make_workflow(owner))
    held.release()
    switch.join()

    assert held.released_in_time == [True]
    assert switch.error is None
    assert storage.parts.stats.snapshot("users")["lazy_synced"] == 1
    assert storage.parts.modes.get("users").read_from == (MEMORY if dry_run else DATABASE)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (("memory-only", None), ("dual", MEMORY)),
        (("dual", MEMORY), ("memory-only", None)),
        (("database-only", None), ("dual", DATABASE)),
        (("dual", MEMORY), ("dual", MEMORY)),  # a new shadow rate
    ],
    ids=lambda step: "-".join(filter(None, step)),
)
def test_a_step_no_guard_compares_for_makes_no_comparison(make_storage, monkeypatch, start, target):
    """Memory-only to dual cannot lose data (memory stays the primary copy); walking back to
    memory-only or from database-only, or changing a setting, uses no comparison either."""
    storage = make_storage(start[0], read_from=start[1])
    storage.users.add(make_user())
    held = HeldComparison(monkeypatch, "users", at="start")
    held.release()
    switch = SwitchThread(storage, target[0], read_from=target[1], shadow_rate=0.5)
    switch.start()
    switch.join()

    assert switch.error is None
    assert held.passes == 0
    assert storage.parts.modes.get("users").shadow_rate == 0.5


def test_the_steps_that_compare_still_compare_each_repository(make_storage, monkeypatch):
    storage, _ = backfilled(make_storage, MEMORY)
    held = HeldComparison(monkeypatch, "users", at="start")
    held.release()
    switch = SwitchThread(storage, "dual", read_from=DATABASE, dry_run=True)
    switch.start()
    switch.join()

    assert switch.error is None
    assert held.passes == len(storage.parts.bindings)


def renamed_during_a_blip(storage, users) -> None:
    """Renamed in memory and the journal, not in the database (marked down meanwhile)."""
    storage.parts.health.mark_down("a blip")
    for user in users:
        storage.users.update(dataclasses.replace(user, name="after"))
    storage.parts.health.mark_up()


def test_writes_that_outrun_the_watch_are_compared_anew(make_storage, monkeypatch):
    """Past `WATCHED_KEYS` written keys of a repository the watch gives up: the repository
    is compared again before the gate, and the guard still sees every difference."""
    monkeypatch.setattr(guard_counts, "WATCHED_KEYS", 1)
    storage = make_storage("dual", read_from=DATABASE)
    users = [storage.users.add(make_user()) for _ in range(2)]
    held = HeldComparison(monkeypatch, "users", at="end")
    switch = SwitchThread(storage, "dual", read_from=MEMORY, dry_run=True)
    switch.start()
    assert held.wait()

    renamed_during_a_blip(storage, users)
    held.release()
    switch.join()

    assert held.released_in_time == [True]
    assert held.passes == len(storage.parts.bindings) + 1  # users compared anew
    assert switch.error.details["refused"]["users"] == [
        "2 records differ between memory and the database: load memory first"
    ]


def test_writes_that_outrun_the_watch_twice_are_compared_under_the_gate(make_storage, monkeypatch):
    monkeypatch.setattr(guard_counts, "WATCHED_KEYS", 1)
    storage = make_storage("dual", read_from=DATABASE)
    users = [storage.users.add(make_user()) for _ in range(4)]
    held = HeldComparison(monkeypatch, "users", at="end", times=2)
    switch = SwitchThread(storage, "dual", read_from=MEMORY, dry_run=True)
    switch.start()
    assert held.wait(0)
    renamed_during_a_blip(storage, users[:2])
    held.release(0)
    assert held.wait(1)  # compared anew
    renamed_during_a_blip(storage, users[2:])
    held.release(1)
    switch.join()

    assert held.released_in_time == [True, True]
    assert held.passes == len(storage.parts.bindings) + 2  # anew, then completely under the gate
    assert switch.error.details["refused"]["users"] == [
        "4 records differ between memory and the database: load memory first"
    ]
