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
from wfplatform.storage.modes import DATABASE, MEMORY

PATIENCE = 10.0  # seconds a held comparison waits for release before going on regardless


class HeldComparison:
    """Holds the first pass of the switch thread over memory's records of `repository`:
    before its first record (`at="start"`) or after its last (`at="end"`)."""

    def __init__(self, monkeypatch, repository: str, at: str) -> None:
        self.reached = threading.Event()
        self._release = threading.Event()
        self.released_in_time: bool | None = None
        self.passes = 0
        iter_all = MemoryRepository.iter_all
        held = self

        def iterate(repository_self, *args, **kwargs) -> Iterator:
            in_switch = threading.current_thread().name == "switch"
            if in_switch:
                held.passes += 1
            first = repository_self.spec.name == repository and not held.reached.is_set()
            hold = in_switch and first
            if hold and at == "start":
                held._hold()
            yield from iter_all(repository_self, *args, **kwargs)
            if hold and at == "end":
                held._hold()

        monkeypatch.setattr(MemoryRepository, "iter_all", iterate)

    def _hold(self) -> None:
        self.reached.set()
        self.released_in_time = self._release.wait(PATIENCE)

    def release(self) -> None:
        self._release.set()


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
    assert held.reached.wait(PATIENCE)

    assert storage.users.get(owner.id) == owner
    added = storage.users.add(make_user())
    held.release()
    switch.join()

    assert held.released_in_time  # the read and the write did not wait for the comparison
    assert switch.error is None
    assert storage.modes.get("users").read_from == (MEMORY if dry_run else DATABASE)
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
    assert held.reached.wait(PATIENCE)

    storage.health.mark_down("a blip")
    if write == "rename":
        storage.users.update(dataclasses.replace(user, name="after"))
    else:
        storage.users.delete(user.id)
    storage.health.mark_up()
    held.release()
    switch.join()

    assert held.released_in_time
    assert isinstance(switch.error, GuardRefused), switch.result
    assert switch.error.details["refused"]["users"] == [reason]
    assert storage.modes.get("users").read_from == DATABASE


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
    assert held.reached.wait(PATIENCE)

    storage.workflows.add(make_workflow(owner))
    held.release()
    switch.join()

    assert held.released_in_time
    assert switch.error is None
    assert storage.stats.snapshot("users")["lazy_synced"] == 1
    assert storage.modes.get("users").read_from == (MEMORY if dry_run else DATABASE)


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
    assert storage.modes.get("users").shadow_rate == 0.5


def test_the_steps_that_compare_still_compare_each_repository(make_storage, monkeypatch):
    storage, _ = backfilled(make_storage, MEMORY)
    held = HeldComparison(monkeypatch, "users", at="start")
    held.release()
    switch = SwitchThread(storage, "dual", read_from=DATABASE, dry_run=True)
    switch.start()
    switch.join()

    assert switch.error is None
    assert held.passes == len(storage.bindings)
