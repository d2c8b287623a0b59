"""Backup and restore for admins: export every repository as one streamed document,
import one (validated first), and check the data's integrity."""

from __future__ import annotations

import shutil
import tempfile

from flask import Response, current_app, request, stream_with_context, url_for
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from ..backup import check_integrity, export_chunks
from ..backup.export import buffered, record_export
from ..backup.format import FORMAT, FORMAT_VERSION
from ..bootstrap import get_storage, services
from ..domain.codec import utcnow
from ..errors import NotFound
from ..extensions import head_revision
from ..repositories import NAMES
from ..services.json_fields import JsonBoolean
from .blueprint import Blueprint
from .cutover import AdminView
from .limits import limit_per_user
from .security import SECURITY, current_actor

blp = Blueprint("backup", __name__, url_prefix="/admin", description="Backup and restore")
limit_per_user(blp)
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bytes of an uploaded document kept off disk
DOCUMENT = {
    "type": "object",
    "description": "what GET /admin/export answers: the header members, then "
    "`repositories` last, parents first, each repository's records in key order",
    "required": ["format", "format_version", "exported_at", "schema_revision", "repositories"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "exported_at": {"type": "string", "format": "date-time"},
        "schema_revision": {"type": ["string", "null"], "minLength": 1},
        "repositories": {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: {"type": "array", "items": {"type": "object"}} for name in NAMES},
        },
    },
}


class ImportQuerySchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "write nothing"})
    force = fields.Boolean(
        load_default=False, metadata={"description": "import the valid records when some are not"}
    )


class IntegritySchema(Schema):
    fix = JsonBoolean(load_default=False)
    repositories = fields.List(fields.String(validate=validate.OneOf(NAMES)))


@blp.route("/export")
class Export(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200, description="the export document, streamed as an attachment")
    def get(self):
        """Every repository as one JSON document (parents first, records in key order),
        read where each repository reads from now; secrets stay hashed as stored."""
        storage = get_storage()
        record_export(storage, current_actor(), "http")
        chunks = buffered(export_chunks(storage, head_revision()))
        name = f"wfplatform-export-{utcnow():%Y%m%dT%H%M%SZ}.json"
        return Response(
            stream_with_context(chunks),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


@blp.route("/import")
class Import(AdminView):
    @blp.doc(
        security=SECURITY,
        requestBody={"required": True, "content": {"application/json": {"schema": DOCUMENT}}},
    )
    @blp.arguments(ImportQuerySchema, location="query")
    @blp.response(202, description="the import job; follow it at the URL in Location")
    @blp.alt_response(409, description="another import is running")
    @blp.alt_response(413, description="larger than WF_MAX_IMPORT_BYTES")
    @blp.alt_response(422, description="not an export document this version reads")
    def post(self, query):
        """Restore an export document (the body) in the background: validated completely
        first, then written parents first in units of work through every mode. The job's
        result has counts per repository; invalid records fail it with `import_refused`
        (nothing written) unless `force`."""
        job = services().imports.begin(
            _spooled_body(),
            dry_run=query["dry_run"],
            force=query["force"],
            actor=current_actor(),
        )
        location = url_for("backup.ImportJob", job_id=job.id)
        return job.describe(), 202, {"Location": location}


@blp.route("/imports")
class Imports(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    def get(self):
        """Import jobs started in any process of the service, newest first."""
        return {"items": services().imports.recent()}


@blp.route("/imports/<job_id>")
class ImportJob(AdminView):
    @blp.doc(security=SECURITY)
    @blp.response(200)
    @blp.alt_response(404, description="no such import job")
    def get(self, job_id):
        """An import job: phase (validating, restoring), progress with rate and ETA, then
        its result (the report) or its error (`import_refused` carries the report)."""
        job = services().imports.get(job_id)
        if job is None:
            raise NotFound(f"no import job {job_id}")
        return job


@blp.route("/integrity")
class Integrity(AdminView):
    @blp.doc(security=SECURITY)
    @blp.arguments(IntegritySchema)
    @blp.response(200)
    @blp.alt_response(409, description="fix refused: the sync journal is not empty")
    def post(self, body):
        """Orphans, broken references, duplicate unique values and invalid records in
        every backend in use; `fix` removes orphans whose parent is gone everywhere."""
        return check_integrity(
            get_storage(), body.get("repositories"), fix=body["fix"], actor=current_actor()
        )


def _spooled_body() -> tempfile.SpooledTemporaryFile:
    """The body, copied once (validation and restore each read it)."""
    limit = current_app.config["WF_MAX_IMPORT_BYTES"]
    request.max_content_length = limit
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        shutil.copyfileobj(request.stream, spool, 64 * 1024)
    except RequestEntityTooLarge:
        spool.close()
        raise RequestEntityTooLarge(
            f"the document is larger than WF_MAX_IMPORT_BYTES ({limit} bytes)"
        ) from None
    except BaseException:  # the client went away
        spool.close()
        raise
    spool.seek(0)
    return spool
