"""A repository the product does not have: gadgets, each owned by a user and holding a
secret. A registry with it stands for a release that adds a repository to a running
deployment (its table made by `gadget_table`, outside the product's schema). Its own
readiness check stands for "credentials must decrypt before reads move to the database":
a secret sealed with a key this release does not have (`SEALED`) does not open."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import orm as so
from sqlalchemy.engine import Engine

from wfplatform.models import UserModel
from wfplatform.repositories import REPOSITORIES, RepositoryBackends
from wfplatform.repositories.base import Parent, Repository, RepositorySpec, writes
from wfplatform.repositories.memory import MemoryRepository
from wfplatform.repositories.sql import SqlRepository
from wfplatform.storage.modes import DATABASE, MEMORY, RepositoryMode

SEALED = "sealed-with-an-old-key:"


@dataclass
class Gadget:
    user_id: str
    name: str
    secret: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class GadgetBase(so.DeclarativeBase):
    metadata = sa.MetaData()


class GadgetModel(GadgetBase):
    __tablename__ = "gadgets"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)
    user_id: so.Mapped[str] = so.mapped_column(
        sa.String(36), sa.ForeignKey(UserModel.__table__.c.id)
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    secret: so.Mapped[str] = so.mapped_column(sa.Text)


def secrets_open(parts: Any, current: RepositoryMode, target: RepositoryMode) -> list[str]:
    """Before reads move to the database, every secret stored there must open."""
    if not (current.primary == MEMORY and target.primary == DATABASE):
        return []
    with parts.on_database() as database:
        gadgets = database.repository("gadgets").iter_all()
        sealed = sum(gadget.secret.startswith(SEALED) for gadget in gadgets)
    if not sealed:
        return []
    return [f"{sealed} gadget secrets do not open with the current key: re-encrypt them first"]


class GadgetRepository(Repository):
    spec = RepositorySpec(
        "gadgets", Gadget, parents=(Parent("users", "user_id"),), readiness=secrets_open
    )

    @writes
    def add(self, gadget: Gadget) -> Gadget:
        self._insert(gadget)
        return gadget


class MemoryGadgetRepository(MemoryRepository, GadgetRepository):
    pass


class SqlGadgetRepository(SqlRepository, GadgetRepository):
    model = GadgetModel


GADGETS = RepositoryBackends(GadgetRepository, MemoryGadgetRepository, SqlGadgetRepository)
WITH_GADGETS = (*REPOSITORIES, GADGETS)


@pytest.fixture
def gadget_table(engine: Engine) -> Iterator[None]:
    GadgetBase.metadata.create_all(engine)
    yield
    GadgetBase.metadata.drop_all(engine)
