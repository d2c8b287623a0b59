"""Credentials: CRUD without their data; `reveal=true` answers it to its owner (audited,
`Cache-Control: no-store`)."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from ..bootstrap import services
from ..repositories.credentials import CredentialQuery
from .blueprint import Blueprint
from .credential_schemas import (
    CredentialCreateSchema,
    CredentialListQuerySchema,
    CredentialPageSchema,
    CredentialSchema,
    CredentialUpdateSchema,
    ForceQuerySchema,
    RevealedCredentialSchema,
    RevealQuerySchema,
)
from .limits import limit_per_user
from .schemas import page_body
from .security import SECURITY, current_actor, login_required

blp = Blueprint("credentials", __name__, url_prefix="/api/credentials", description="Credentials")
limit_per_user(blp)
NOT_FOUND = "no such credential, or another user's"
NOT_YOURS = "an admin may see another user's credential, not change it or reveal its data"
NO_STORE = {"Cache-Control": "no-store"}


@blp.route("")
class CredentialList(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(CredentialListQuerySchema, location="query")
    @blp.response(200, CredentialPageSchema)
    @blp.alt_response(403, description="`owner` other than `me` without the admin role")
    def get(self, query):
        """Your credentials, by name, without their data (admins: `owner=all` or a user id)."""
        filters = CredentialQuery(
            type=query.get("type"), limit=query["limit"], offset=query["offset"]
        )
        page = services().credentials.list(current_actor(), filters, query["owner"])
        return page_body(page, query)

    @blp.doc(security=SECURITY)
    @blp.arguments(CredentialCreateSchema)
    @blp.response(201, CredentialSchema)
    def post(self, body):
        """Store a credential: its data is sealed (AES-256-GCM) before any backend sees it."""
        credential = services().credentials.create(current_actor(), body)
        location = url_for("credentials.CredentialItem", credential_id=credential.id)
        return credential, 201, {"Location": location}


@blp.route("/<uuid:credential_id>")
class CredentialItem(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(RevealQuerySchema, location="query")
    @blp.response(200, RevealedCredentialSchema)
    @blp.alt_response(403, description=NOT_YOURS)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(503, description="its data does not open with the key ring (`reveal`)")
    def get(self, query, credential_id):
        """One credential; with `reveal=true`, its data too (its owner only, audited)."""
        if not query["reveal"]:
            return services().credentials.get(current_actor(), str(credential_id))
        credential, data = services().credentials.reveal(current_actor(), str(credential_id))
        return {**vars(credential), "data": data}, 200, NO_STORE

    @blp.doc(security=SECURITY)
    @blp.arguments(CredentialUpdateSchema)
    @blp.response(200, CredentialSchema)
    @blp.alt_response(403, description=NOT_YOURS)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="the credential changed since the version given")
    def patch(self, body, credential_id):
        """Change fields; new `data` is sealed anew."""
        expected = body.pop("version", None)
        return services().credentials.update(current_actor(), str(credential_id), body, expected)

    @blp.doc(security=SECURITY)
    @blp.arguments(ForceQuerySchema, location="query")
    @blp.response(204)
    @blp.alt_response(403, description=NOT_YOURS)
    @blp.alt_response(404, description=NOT_FOUND)
    @blp.alt_response(409, description="workflows use it (`details.workflows`): `force=true`")
    def delete(self, query, credential_id):
        """Delete a credential (one your workflows use only with `force=true`)."""
        services().credentials.delete(current_actor(), str(credential_id), query["force"])
