"""Where a repository a release adds starts: a mode in which no reference pair looks for
records in a backend the other side does not write to."""

from __future__ import annotations

from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.base import Parent, RepositorySpec
from wfplatform.storage import placement
from wfplatform.storage.modes import DATABASE, MEMORY, RepositoryMode

SPECS = [binding.spec for binding in REPOSITORIES]
# a release's repository with two parents: a run of a workflow, started with an API key
RUNS = RepositorySpec(
    "runs", object, parents=(Parent("workflows", "workflow_id"), Parent("api_keys", "key_id"))
)
MEMORY_ONLY = RepositoryMode.of("memory-only")


def test_a_repository_whose_parents_run_in_different_modes_starts_where_none_is_refused():
    """Users read the database without a fallback; their workflows still read memory, their
    keys went database-only (no pair refuses that). Neither parent's mode suits the runs:
    in the workflows' they would look for keys in memory, in the keys' the workflows
    would look for runs in memory before a delete."""
    modes = {
        "users": RepositoryMode.of("dual", DATABASE, fallback=False),
        "workflows": RepositoryMode.of("dual", MEMORY),
        "workflow_versions": RepositoryMode.of("dual", MEMORY),
        "api_keys": RepositoryMode.of("database-only"),
        "audit_logs": MEMORY_ONLY,
    }
    assert placement.refusals(SPECS, modes, list(modes)) == {}

    start = placement.starting_mode(RUNS, [*SPECS, RUNS], modes, MEMORY_ONLY)

    assert placement.refusals([*SPECS, RUNS], {**modes, "runs": start}, ["runs"]) == {}


def test_a_repository_whose_parents_share_a_mode_starts_in_it():
    modes = {spec.name: RepositoryMode.of("dual", MEMORY) for spec in SPECS}
    start = placement.starting_mode(RUNS, [*SPECS, RUNS], modes, MEMORY_ONLY)
    assert start == modes["workflows"]
