"""Generic repository proxies: the adapter routes any declared repository, no per-entity code.

`AdaptedRepository` is what services use outside a unit of work: reads go through the
`Reader` (fallback, lazy sync, shadow reads), each write runs as its own unit of work.
`BoundRepository` runs calls inside a unit of work, on each repository's primary backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..backends.sql import translate_faults
from ..repositories.base import WRITE, Repository
from .modes import RepositoryMode
from .parts import StorageParts
from .reads import Reader
from .tracing import operation_span


def _operation_kind(parts: StorageParts, repository: str, operation: str) -> str:
    kind = parts.bindings[repository].operations.get(operation)
    if kind is None:
        raise AttributeError(f"{repository} has no declared operation {operation!r}")
    return kind


class AdaptedRepository:
    """`atomic` runs a write as a unit of work (`Storage.atomic`)."""

    def __init__(
        self, parts: StorageParts, repository: str, atomic: Callable[..., Any], reader: Reader
    ) -> None:
        self._parts = parts
        self._repository = repository
        self._atomic = atomic
        self._reader = reader

    def __getattr__(self, operation: str) -> Any:
        repository = self._repository
        if _operation_kind(self._parts, repository, operation) == WRITE:
            atomic = self._atomic

            def write(*args: Any, **kwargs: Any) -> Any:
                return atomic(
                    lambda uow: getattr(uow.repository(repository), operation)(*args, **kwargs)
                )

            return write

        reader = self._reader

        def read(*args: Any, **kwargs: Any) -> Any:
            return reader.read(repository, operation, args, kwargs)

        return read


class Work(Protocol):
    """What a `BoundRepository` asks of its unit of work."""

    parts: StorageParts
    modes: dict[str, RepositoryMode]

    def primary(self, repository: str) -> str: ...

    def backend(self, repository: str) -> Repository: ...


class BoundRepository:
    def __init__(self, uow: Work, repository: str) -> None:
        self._uow = uow
        self._repository = repository

    def __getattr__(self, operation: str) -> Any:
        uow, repository = self._uow, self._repository
        parts = uow.parts
        kind = _operation_kind(parts, repository, operation)
        mode = uow.modes[repository]

        def call(*args: Any, **kwargs: Any) -> Any:
            backend = uow.primary(repository)
            name = f"{repository}.{operation}"
            with operation_span(name, mode, [backend], fallback=backend != mode.primary):
                started = time.perf_counter()
                with translate_faults():
                    result = getattr(uow.backend(repository), operation)(*args, **kwargs)
                elapsed = (time.perf_counter() - started) * 1000
                parts.stats.observe(repository, backend, kind, elapsed)
                return result

        return call
