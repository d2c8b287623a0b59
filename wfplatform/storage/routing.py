"""Generic repository proxies: the adapter routes any declared repository, no per-entity code.

`AdaptedRepository` is what services use outside a unit of work: reads go through the
`Reader` (fallback, lazy sync, shadow reads), each write runs as its own unit of work.
`BoundRepository` runs calls inside a unit of work, on each repository's primary backend."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..repositories.base import WRITE
from .sql import translate_faults
from .tracing import operation_span

if TYPE_CHECKING:
    from .adapter import Storage
    from .unit_of_work import UnitOfWork


def _operation_kind(storage: Storage, repository: str, operation: str) -> str:
    kind = storage.bindings[repository].operations.get(operation)
    if kind is None:
        raise AttributeError(f"{repository} has no declared operation {operation!r}")
    return kind


class AdaptedRepository:
    def __init__(self, storage: Storage, repository: str) -> None:
        self._storage = storage
        self._repository = repository

    def __getattr__(self, operation: str) -> Any:
        storage, repository = self._storage, self._repository
        if _operation_kind(storage, repository, operation) == WRITE:

            def write(*args: Any, **kwargs: Any) -> Any:
                return storage.atomic(
                    lambda uow: getattr(uow.repository(repository), operation)(*args, **kwargs)
                )

            return write

        def read(*args: Any, **kwargs: Any) -> Any:
            return storage.reader.read(repository, operation, args, kwargs)

        return read


class BoundRepository:
    def __init__(self, uow: UnitOfWork, repository: str) -> None:
        self._uow = uow
        self._repository = repository

    def __getattr__(self, operation: str) -> Any:
        uow, repository = self._uow, self._repository
        storage = uow._storage
        kind = _operation_kind(storage, repository, operation)
        mode = uow.modes[repository]

        def call(*args: Any, **kwargs: Any) -> Any:
            backend = uow.primary(repository)
            name = f"{repository}.{operation}"
            with operation_span(name, mode, [backend]) as span:
                span.set_attribute("wf.storage.fallback", backend != mode.primary)
                started = time.perf_counter()
                with translate_faults():
                    result = getattr(uow.backend(repository), operation)(*args, **kwargs)
                elapsed = (time.perf_counter() - started) * 1000
                storage.stats.observe(repository, backend, kind, elapsed)
                return result

        return call
