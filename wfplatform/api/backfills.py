"""Backfill runs over HTTP: the service backfills its live memory as a background
job; scripts start one and follow it here."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields, validate

from ..backfill.backfiller import ON_CONFLICT, Options
from ..bootstrap import services
from ..errors import NotFound, ValidationFailed
from ..repositories import NAMES
from ..services.json_fields import JsonBoolean, JsonInteger
from .blueprint import Blueprint
from .cutover import AdminView
from .limits import limit_per_user
from .security import SECURITY, current_user

blp = Blueprint("backfills", __name__, url_prefix="/admin/migrations", description="Backfill runs")
limit_per_user(blp)


class BackfillRequestSchema(Schema):
    dry_run = JsonBoolean(load_default=True, metadata={"description": "false to write"})
    repositories = fields.List(fields.String(validate=validate.OneOf(NAMES)), load_default=[])
    batch_size = JsonInteger(load_default=500, validate=validate.Range(1, 10_000))
    on_conflict = fields.String(load_default="skip", validate=validate.OneOf(ON_CONFLICT))
    resume = fields.String(
        metadata={"description": "the id of an interrupted run; needs `dry_run: false`"}
    )


class RollbackRequestSchema(Schema):
    dry_run = JsonBoolean(load_default=False)
    force = JsonBoolean(load_default=False)


@blp.route("")
class Backfills(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(BackfillRequestSchema)
    @blp.response(202)
    @blp.alt_response(409, description="a guard refused, or a job is running")
    def post(self, body):
        """Start a dry-run or a confirmed backfill in the background; follow it at the URL
        in `Location`."""
        if body.get("resume") and body["dry_run"]:
            raise ValidationFailed("resume continues a run by copying: send dry_run false")
        options = Options(tuple(body["repositories"]), body["batch_size"], body["on_conflict"])
        kind = "dry_run" if body["dry_run"] else "confirm"
        job = services().backfills.begin(kind, options, current_user().email, body.get("resume"))
        location = url_for("backfills.BackfillRun", backfill_id=job.id)
        return job.describe(), 202, {"Location": location}

    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Recorded runs (what confirmed backfills wrote), newest first, and the jobs
        (dry-runs included) started in any process of the service."""
        jobs = services().backfills
        return {"items": jobs.backfiller.runs.list(), "jobs": jobs.recent()}


@blp.route("/<backfill_id>")
class BackfillRun(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    @blp.alt_response(404, description="no such job or run")
    def get(self, backfill_id):
        """A job's progress (rate, ETA, result), whichever process runs it, with the run a
        confirmed job records as it is now (`run`: rolled back since, say); for a run
        recorded without a job (an offline run), the run alone."""
        jobs = services().backfills
        job = jobs.get(backfill_id)
        try:
            run = jobs.backfiller.runs.get(backfill_id)
        except NotFound:
            if job is None:
                raise NotFound(f"no migration {backfill_id}") from None
            return job
        return {**(job or {}), "run": run}


@blp.route("/<backfill_id>/rollback")
class Rollback(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RollbackRequestSchema)
    @blp.response(202, description="the rollback job; follow it at the URL in Location")
    @blp.alt_response(404, description="no such run")
    @blp.alt_response(409, description="refused: the run is running or rolled back, the "
                      "database is read, or another migration job runs")  # fmt: skip
    def post(self, body, backfill_id):
        """Undo exactly that run in the background (see the README); `dry_run` shows what
        it would do. The job's result says what was undone and what was kept."""
        job = services().backfills.begin_rollback(
            backfill_id, current_user().email, dry_run=body["dry_run"], force=body["force"]
        )
        location = url_for("backfills.BackfillRun", backfill_id=job.id)
        return job.describe(), 202, {"Location": location}
