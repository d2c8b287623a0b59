"""The control plane of the cut-over, for admins: modes, readiness, history, stats, sync
and verify, through `services.cutover` as the CLI (the same guards; every switch is
audited)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..bootstrap import services
from ..repositories import NAMES
from ..services.json_fields import JsonBoolean
from ..storage.modes import DATABASE, MEMORY, Mode
from .blueprint import Blueprint
from .limits import limit_per_user
from .security import SECURITY, admin_required, current_actor

blp = Blueprint("cutover", __name__, url_prefix="/admin/migration", description="Cut-over control")
limit_per_user(blp)


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


@blp.route("")
class Overview(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Every repository's mode, settings, stats, journal and last verify."""
        return services().cutover.overview()


@blp.route("/mode")
class ModeSwitch(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ModeChangeSchema)
    @blp.response(200)
    @blp.alt_response(409, description="a guard refused; the reasons say what to run first")
    def put(self, body):
        """Switch modes (all repositories unless `repositories` is given), behind the guards."""
        cutover = services().cutover
        result = cutover.switch(
            current_actor(),
            body["mode"],
            reason=body["reason"],
            via="http",
            read_from=body.get("read_from"),
            repositories=body.get("repositories"),
            shadow_rate=body.get("shadow_rate"),
            fallback=body.get("fallback"),
            force=body["force"],
            dry_run=body["dry_run"],
        )
        return {**result, "state": cutover.overview()}


@blp.route("/readiness")
class Readiness(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Per repository: whether each next step is safe now, and every reason it is not."""
        return {"repositories": services().cutover.readiness()}


@blp.route("/history")
class History(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HistoryQuerySchema, location="query")
    @blp.response(200)
    def get(self, query):
        """Every mode change, newest first: who, when, from, to, why, forced."""
        return {"items": services().cutover.history(query["limit"])}


@blp.route("/stats/reset")
class StatsReset(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RepositoriesSchema)
    @blp.response(200)
    def post(self, body):
        """Start the counters again (all repositories unless some are named)."""
        cutover = services().cutover
        cutover.reset_stats(body.get("repositories"))
        return cutover.overview()


@blp.route("/sync")
class Sync(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def post(self):
        """Replay the sync journal now; answers how many entries went and how many wait."""
        return services().cutover.sync()


@blp.route("/verify")
class Verify(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RepositoriesSchema)
    @blp.response(200)
    def post(self, body):
        """Compare both backends completely (ids listed up to 100 per kind, with counts)."""
        return services().cutover.verify(body.get("repositories"))


@blp.route("/load-memory")
class LoadMemory(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(LoadMemorySchema)
    @blp.response(200)
    @blp.alt_response(409, description="memory is the primary copy of a repository (force)")
    def post(self, body):
        """Make memory equal to the database (before reads move back to memory); refused
        where memory is the primary copy, unless `force`."""
        changed = services().cutover.load_memory(body.get("repositories"), force=body["force"])
        return {"changed": changed}


@blp.route("/repair-text")
class RepairText(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(TextRepairSchema)
    @blp.response(200)
    def post(self, body):
        """Replace text no backend can store (lone surrogates, NUL: accepted by versions
        before it was refused) by U+FFFD in every record holding it, so the backfill can
        copy them; `dry_run` lists them. Each repaired record is audited."""
        return services().cutover.repair_text(
            current_actor(), body.get("repositories"), dry_run=body["dry_run"]
        )
