"""The control plane of the cut-over, for admins: modes, readiness, history, stats, sync
and verify. The same guards as `storage.switch` and the CLI; every change is audited."""

from __future__ import annotations

import dataclasses

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..repositories import NAMES
from ..services import audit
from ..services.json_fields import JsonBoolean
from ..services.text_repair import repair_text
from ..storage.journal import damage_warning
from ..storage.modes import DATABASE, MEMORY, Mode
from ..storage_ext import get_storage
from .blueprint import Blueprint
from .limits import api_limit, limiter
from .security import SECURITY, admin_required, current_actor, current_user
from .services import services

blp = Blueprint("cutover", __name__, url_prefix="/admin/migration", description="Cut-over control")
limiter.limit(api_limit)(blp)


class RepositoriesSchema(Schema):
    repositories = fields.List(fields.String(validate=validate.OneOf(NAMES)))


class ModeChangeSchema(RepositoriesSchema):
    mode = fields.String(required=True, validate=validate.OneOf([m.value for m in Mode]))
    read_from = fields.String(
        validate=validate.OneOf([MEMORY, DATABASE]),
        metadata={"description": "either with `dual`; otherwise the one the mode implies"},
    )
    shadow_rate = fields.Float(validate=validate.Range(0, 1))
    fallback = JsonBoolean()
    reason = fields.String(required=True, validate=validate.Length(1, 1000))
    force = JsonBoolean(load_default=False)
    dry_run = JsonBoolean(load_default=False)


class LoadMemorySchema(RepositoriesSchema):
    force = JsonBoolean(
        load_default=False,
        metadata={
            "description": "load even where memory is the primary copy (deletes "
            "what only memory holds)"
        },
    )


class TextRepairSchema(RepositoriesSchema):
    dry_run = JsonBoolean(load_default=False)


class HistoryQuerySchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class AdminView(MethodView):
    decorators = [admin_required]


def overview() -> dict:
    storage = get_storage()
    kept_aside = storage.journal.set_aside_lines()
    warnings = [storage.process_warning(), damage_warning(kept_aside)]
    return {
        "repositories": storage.describe(),
        "journal": len(storage.journal),
        "journal_damage": {
            "file": str(storage.journal.set_aside_path),
            "lines_kept_aside": kept_aside,
            "found_at_start": dataclasses.asdict(storage.journal.damage),
        },
        "database": {"down": storage.health.is_down(), "last_error": storage.health.last_error},
        "processes": storage.processes.alive(),
        "this_process": {"id": storage.processes.id, "pid": storage.processes.pid},
        "warnings": [warning for warning in warnings if warning],
        "last_backfill": next(iter(services().backfills.backfiller.runs.list(1)), None),
    }


@blp.route("")
class Overview(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Every repository's mode, settings, stats, journal and last verify."""
        return overview()


@blp.route("/mode")
class ModeSwitch(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ModeChangeSchema)
    @blp.response(200)
    @blp.alt_response(409, description="a guard refused; the reasons say what to run first")
    def put(self, body):
        """Switch modes (all repositories unless `repositories` is given), behind the guards."""
        storage = get_storage()
        result = storage.switch(
            body.pop("mode"),
            actor=current_user().email,
            reason=body.pop("reason"),
            **body,
        )
        if not result["dry_run"]:
            storage.atomic(
                lambda uow: audit.record(
                    uow,
                    current_actor(),
                    "storage.mode_change",
                    "storage",
                    None,
                    {"modes": result["modes"], "forced": result["forced"]},
                )
            )
        return {**result, "state": overview()}


@blp.route("/readiness")
class Readiness(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Per repository: whether each next step is safe now, and every reason it is not."""
        storage = get_storage()
        return {"repositories": {name: storage.readiness(name) for name in storage.bindings}}


@blp.route("/history")
class History(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HistoryQuerySchema, location="query")
    @blp.response(200)
    def get(self, query):
        """Every mode change, newest first: who, when, from, to, why, forced."""
        return {"items": get_storage().modes.history(query["limit"])}


@blp.route("/stats/reset")
class StatsReset(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RepositoriesSchema)
    @blp.response(200)
    def post(self, body):
        """Start the counters again (all repositories unless some are named)."""
        storage = get_storage()
        for name in body.get("repositories") or NAMES:
            storage.stats.reset(name)
        return overview()


@blp.route("/sync")
class Sync(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def post(self):
        """Replay the sync journal now; answers how many entries went and how many wait."""
        return get_storage().replay_journal()


@blp.route("/verify")
class Verify(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RepositoriesSchema)
    @blp.response(200)
    def post(self, body):
        """Compare both backends completely (ids listed up to 100 per kind, with counts)."""
        return get_storage().verify(body.get("repositories") or None)


@blp.route("/load-memory")
class LoadMemory(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(LoadMemorySchema)
    @blp.response(200)
    @blp.alt_response(409, description="memory is the primary copy of a repository (force)")
    def post(self, body):
        """Make memory equal to the database (before reads move back to memory); refused
        where memory is the primary copy, unless `force`."""
        names = body.get("repositories") or NAMES
        return {"changed": get_storage().reload_memory(names, force=body["force"])}


@blp.route("/repair-text")
class RepairText(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(TextRepairSchema)
    @blp.response(200)
    def post(self, body):
        """Replace text no backend can store (lone surrogates, NUL: accepted by versions
        before it was refused) by U+FFFD in every record holding it, so the backfill can
        copy them; `dry_run` lists them. Each repaired record is audited."""
        return repair_text(
            get_storage(), current_actor(), body.get("repositories"), body["dry_run"]
        )
