"""Every repository has its two backends, each implementing every declared operation, and
the adapter routes every one of them: adding a repository needs no adapter code."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import sqlalchemy as sa

from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.base import READ, WRITE, Repository


@pytest.mark.parametrize("binding", REPOSITORIES, ids=lambda b: b.name)
def test_both_backends_implement_the_whole_interface(binding):
    for backend in (binding.memory, binding.sql):
        assert issubclass(backend, binding.interface)
        assert not inspect.isabstract(backend), backend.__abstractmethods__
        assert backend.spec is binding.interface.spec


@pytest.mark.parametrize("binding", REPOSITORIES, ids=lambda b: b.name)
def test_every_public_method_declares_whether_it_reads_or_writes(binding):
    public = {
        name
        for name, member in inspect.getmembers(binding.interface, inspect.isfunction)
        if not name.startswith("_") and name not in vars(Repository)
    }
    assert public <= set(binding.operations), public - set(binding.operations)
    assert set(binding.operations.values()) <= {READ, WRITE}
    assert binding.operations["get"] == READ


def test_parents_come_before_children():
    order = [binding.name for binding in REPOSITORIES]
    for position, binding in enumerate(REPOSITORIES):
        for parent in binding.spec.parents:
            assert order.index(parent.repository) < position


@pytest.mark.parametrize("binding", REPOSITORIES, ids=lambda b: b.name)
def test_the_sql_table_has_the_constraints_the_spec_declares(binding):
    """The spec is the one declaration memory derives its checks from; the SQL schema
    (written as migrations) must say the same: a unique constraint per unique key, a
    foreign key per parent and none for a soft reference."""
    table = binding.sql.model.__table__
    unique = {
        tuple(column.name for column in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint)
    }
    unique |= {(column.name,) for column in table.columns if column.unique}
    unique |= {
        tuple(column.name for column in index.columns) for index in table.indexes if index.unique
    }
    assert unique == {key.fields for key in binding.spec.unique}
    foreign = {(key.parent.name, key.column.table.name) for key in table.foreign_keys}
    assert foreign == {(parent.field, parent.repository) for parent in binding.spec.parents}


@pytest.mark.parametrize("binding", REPOSITORIES, ids=lambda b: b.name)
def test_a_versioned_record_is_updated_in_sql_only_from_the_version_read(binding):
    """A record with a `version` is written as its successor; against a concurrent
    transaction that holds only when the UPDATE names the version read (the mapper's
    `version_id_col`): without it, two edits of one version both commit."""
    if "version" not in {field.name for field in dataclasses.fields(binding.spec.record_type)}:
        return
    mapper = sa.inspect(binding.sql.model)
    assert mapper.version_id_col is not None
    assert mapper.version_id_col.name == "version"
