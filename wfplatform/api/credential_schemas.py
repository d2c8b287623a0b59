"""Credentials as the API reads and answers them: `data` is taken in and, only when its
owner asks for it with `reveal=true`, given back; no answer carries it otherwise."""

from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, validate

from ..domain.credentials import MAX_LENGTHS
from ..services.credentials import MAX_DATA_BYTES
from ..services.json_fields import JsonBoolean, JsonInteger, UtcDateTime
from ..services.workflow_content import plain_json
from .schemas import PageSchema, PaginationSchema, owner_filter


def _data(value: dict) -> None:
    plain_json(value)
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_DATA_BYTES:
        raise ValidationError(f"at most {MAX_DATA_BYTES:,} bytes as JSON")


def _fields(required: bool) -> dict:
    return {
        "name": fields.String(required=required, validate=validate.Length(1, MAX_LENGTHS["name"])),
        "type": fields.String(
            required=required,
            validate=validate.Length(1, MAX_LENGTHS["type"]),
            metadata={"description": "free-form, as n8n names them: `slackApi`, `httpBasicAuth`"},
        ),
        "data": fields.Dict(
            keys=fields.String(),
            required=required,
            load_only=True,
            validate=_data,
            metadata={"description": "the secret itself, a JSON object; sealed before storage"},
        ),
        "expires_at": UtcDateTime(allow_none=True, metadata={"description": "answered in UTC"}),
        "is_active": JsonBoolean(),
    }


CredentialCreateSchema = Schema.from_dict(_fields(required=True), name="CredentialCreate")


class CredentialUpdateSchema(Schema.from_dict(_fields(required=False), name="CredentialFields")):
    version = JsonInteger(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "the version read: 409 when the credential changed since"},
    )


class CredentialSchema(Schema):
    id = fields.String(dump_only=True)
    user_id = fields.String(dump_only=True, metadata={"description": "its owner"})
    name = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    is_active = fields.Boolean(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RevealedCredentialSchema(CredentialSchema):
    data = fields.Dict(
        dump_only=True, metadata={"description": "only with `reveal=true`, to its owner"}
    )


class CredentialPageSchema(PageSchema):
    items = fields.List(fields.Nested(CredentialSchema))


class CredentialListQuerySchema(PaginationSchema):
    type = fields.String(validate=validate.Length(1, MAX_LENGTHS["type"]))
    owner = owner_filter()


class RevealQuerySchema(Schema):
    reveal = fields.Boolean(
        load_default=False,
        metadata={"description": "answer `data` too (its owner only; audited, not cached)"},
    )


class ForceQuerySchema(Schema):
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "delete even while workflows use it"},
    )
