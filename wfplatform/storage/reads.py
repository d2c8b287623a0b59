"""Reads outside a unit of work: routing, fallback, lazy sync and shadow reads."""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from typing import Any

from ..backends.sql import new_session, once_more_if_dropped, translate_faults
from ..errors import StorageUnavailable
from ..repositories.base import READ, key_argument
from .compare import differing_fields, normalise, record_ids
from .modes import DATABASE, MEMORY, Mode, RepositoryMode
from .parts import StorageParts
from .record_cache import Ticket
from .replication import Replicator
from .tracing import cache_hit_event, operation_span, served_by

log = logging.getLogger(__name__)


class Reader:
    """`replicator` copies to the database what a read found only in memory (lazy sync)."""

    def __init__(self, parts: StorageParts, replicator: Replicator) -> None:
        self._parts = parts
        self._replicator = replicator

    def read(self, repository: str, operation: str, args: tuple, kwargs: dict) -> Any:
        parts = self._parts
        with parts.gate.operation():
            mode = parts.serving_mode(repository)
            parts.warmup.require_servable(repository, mode.primary, len(parts.journal) > 0)
            shadow = self._shadow_token(repository, operation, args, kwargs, mode)
            ticket = None
            if shadow is None:  # a sampled read is compared, never served cached
                ticket = self._cache_ticket(repository, operation, args, kwargs, mode)
            if ticket is not None and ticket.record is not None:
                parts.stats.add(repository, "cache_hits")
                cache_hit_event(f"{repository}.{operation}")
                return ticket.record
            with operation_span(f"{repository}.{operation}", mode, [mode.primary]) as span:
                backend, result = self._read_with_fallback(
                    repository, operation, args, kwargs, mode
                )
                if backend != mode.primary:
                    served_by(span, [backend], fallback=True)
                if ticket is not None and backend == DATABASE:
                    parts.cache.keep(ticket, result)
                if result is None and backend == DATABASE and mode.mode is Mode.DUAL:
                    result = self._lazy_sync(repository, operation, args, kwargs)
                    span.set_attribute("wf.storage.lazy_synced", result is not None)
                if shadow is not None and backend == mode.primary:
                    self._queue_shadow(repository, operation, args, kwargs, mode, *shadow)
                return result

    def run(
        self,
        repository: str,
        backend: str,
        operation: str,
        args: tuple,
        kwargs: dict,
        *,
        counted: bool = True,
    ) -> Any:
        """Run one read on one backend, timed and counted (unless it repeats a read that
        was: a shadow comparison's look at the primary again)."""
        parts = self._parts
        started = time.perf_counter()
        if backend == MEMORY:
            result = getattr(parts.memory_repository(repository), operation)(*args, **kwargs)
        else:
            binding = parts.bindings[repository]

            def on_database() -> Any:
                with new_session(parts.reading_engine, single_read=True) as session:
                    return getattr(binding.sql(session), operation)(*args, **kwargs)

            with translate_faults():
                result = once_more_if_dropped(on_database)
        if counted:
            elapsed = (time.perf_counter() - started) * 1000
            parts.stats.observe(repository, backend, READ, elapsed)
        return result

    def _cache_ticket(
        self, repository: str, operation: str, args: tuple, kwargs: dict, mode: RepositoryMode
    ) -> Ticket | None:
        """For a read by key the record cache may answer (see `record_cache`): reads the
        database would serve, of a repository declaring `cached_reads`, while the cache is
        live and the database is neither down nor behind its journal."""
        parts = self._parts
        if (
            mode.primary != DATABASE
            or not parts.bindings[repository].spec.cached_reads
            or not parts.cache.is_live(repository)
            or (mode.can_fall_back and len(parts.journal))
            or parts.health.is_down()
        ):
            return None
        key = self._record_key(repository, operation, args, kwargs)
        return None if key is None else parts.cache.ticket(repository, key, mode)

    def _read_with_fallback(
        self, repository: str, operation: str, args: tuple, kwargs: dict, mode: RepositoryMode
    ) -> tuple[str, Any]:
        parts = self._parts
        if mode.can_fall_back and len(parts.journal):
            # The database misses the journaled writes until they are replayed.
            return MEMORY, self.run(repository, MEMORY, operation, args, kwargs)
        if mode.primary == DATABASE and parts.health.is_down():
            if mode.can_fall_back:
                parts.stats.error(repository, DATABASE, fell_back=True)
                return MEMORY, self.run(repository, MEMORY, operation, args, kwargs)
            raise StorageUnavailable("database", parts.health.last_error or "recently failed")
        try:
            return mode.primary, self.run(repository, mode.primary, operation, args, kwargs)
        except StorageUnavailable as fault:
            parts.health.mark_down(fault.message)
            parts.stats.error(repository, DATABASE, fell_back=mode.can_fall_back)
            if not mode.can_fall_back:
                raise
            log.warning("%s.%s served from memory: %s", repository, operation, fault.message)
            return MEMORY, self.run(repository, MEMORY, operation, args, kwargs)

    # -- lazy sync ----------------------------------------------------------------------------
    def _lazy_sync(self, repository: str, operation: str, args: tuple, kwargs: dict) -> Any:
        """A record missing in the database but present in memory is returned and copied."""
        parts = self._parts
        binding = parts.bindings[repository]
        key_arg = key_argument(binding.interface, operation)
        if key_arg is None:
            return None
        key = _argument(binding.interface, operation, key_arg, args, kwargs)
        record_key = [(repository, key)]
        with parts.locks.hold(record_key), parts.tracker.copying(record_key):
            record = self.run(repository, MEMORY, operation, args, kwargs)
            if record is None:
                return None
            try:
                self._replicator.copy_to_database(repository, record)
            except StorageUnavailable as fault:
                parts.health.mark_down(fault.message)
                parts.stats.error(repository, DATABASE, fell_back=True)
                log.warning("%s: lazy sync to the database failed: %s", repository, fault.message)
                return record
        parts.stats.add(repository, "lazy_synced")
        return record

    # -- shadow reads -------------------------------------------------------------------------
    def _record_key(self, repository: str, operation: str, args: tuple, kwargs: dict) -> Any:
        """The record key a read is by (`get(key)`), or None for any other read."""
        interface = self._parts.bindings[repository].interface
        key_arg = key_argument(interface, operation)
        return None if key_arg is None else _argument(interface, operation, key_arg, args, kwargs)

    def _shadow_token(
        self, repository: str, operation: str, args: tuple, kwargs: dict, mode: RepositoryMode
    ) -> tuple[int, Any] | None:
        """For a sampled read in a quiet moment: the write tracker's token and the record
        key the read is by (None when it is not by one)."""
        if mode.secondary is None or mode.shadow_rate <= 0 or random.random() >= mode.shadow_rate:
            return None
        parts = self._parts
        if not parts.shadow.has_room():
            parts.stats.add(repository, "shadow_dropped")
            return None
        if len(parts.journal):  # the database misses journaled writes until replayed
            parts.stats.add(repository, "shadow_skipped")
            return None
        key = self._record_key(repository, operation, args, kwargs)
        token = parts.tracker.token(repository, key)
        if token is None:
            parts.stats.add(repository, "shadow_skipped")
            return None
        return token, key

    def _queue_shadow(
        self,
        repository: str,
        operation: str,
        args: tuple,
        kwargs: dict,
        mode: RepositoryMode,
        token: int,
        key: Any,
    ) -> None:
        """Compare off the request thread: the primary is read again there rather than the
        answer copied here (a page of 50 costs the request as much to copy as to read);
        unchanged since the token, it answers as it did."""
        parts = self._parts

        def compare() -> None:
            with operation_span(f"{repository}.{operation}.shadow", mode, [mode.secondary]) as span:
                backend = mode.primary  # the backend a fault is counted against
                try:
                    again = self.run(repository, backend, operation, args, kwargs, counted=False)
                    backend = mode.secondary
                    other = normalise(self.run(repository, backend, operation, args, kwargs))
                except StorageUnavailable:
                    parts.stats.error(repository, backend, fell_back=False)
                    return
                expected = normalise(again)
                if not parts.tracker.unchanged_since(repository, token, key):
                    parts.stats.add(repository, "shadow_skipped")
                    return
                if other is None and _as_record(expected) is not None:
                    # not copied yet (before the backfill, or memory not loaded): what
                    # verify and the guards count as `only_in_...`, not a disagreement
                    parts.stats.add(repository, "shadow_missing")
                    return
                parts.stats.add(repository, "shadow_compares")
                span.set_attribute("wf.storage.mismatch", other != expected)
                if other != expected:
                    parts.stats.mismatch(
                        repository,
                        {
                            "operation": operation,
                            "ids": record_ids(expected) or record_ids(other),
                            "fields": differing_fields(_as_record(expected), _as_record(other)),
                        },
                    )

        if not parts.shadow.submit(compare):
            parts.stats.add(repository, "shadow_dropped")


def _as_record(value: Any) -> dict | None:
    return value if isinstance(value, dict) and "id" in value else None


def _argument(interface: type, operation: str, name: str, args: tuple, kwargs: dict) -> Any:
    position = _position(interface, operation, name)
    if position < len(args):
        return args[position]
    if name in kwargs:
        return kwargs[name]
    bound = _signature(interface, operation).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return bound.arguments[name]


@functools.cache
def _position(interface: type, operation: str, name: str) -> int:
    """Where `name` is among the operation's arguments after `self`."""
    return list(_signature(interface, operation).parameters).index(name) - 1


@functools.cache
def _signature(interface: type, operation: str) -> inspect.Signature:
    return inspect.signature(getattr(interface, operation))
