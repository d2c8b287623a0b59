"""A repository the product does not have: gadgets, each owned by a user. A registry with it
stands for a release that adds a repository to a running deployment (its table made by
`gadget_table`, outside the product's schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy import orm as so
from sqlalchemy.engine import Engine

from wfplatform.models import UserModel
from wfplatform.repositories import REPOSITORIES, RepositoryBackends
from wfplatform.repositories.base import Parent, Repository, RepositorySpec, writes
from wfplatform.repositories.memory import MemoryRepository
from wfplatform.repositories.sql import SqlRepository


@dataclass
class Gadget:
    user_id: str
    name: str
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


class GadgetRepository(Repository):
    spec = RepositorySpec("gadgets", Gadget, parents=(Parent("users", "user_id"),))

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
