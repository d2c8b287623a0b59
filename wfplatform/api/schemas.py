"""Request and response schemas shared by the API's blueprints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..domain import users
from ..services.passwords import MAX_LENGTH as PASSWORD_MAX
from ..services.passwords import MIN_LENGTH as PASSWORD_MIN

Password = fields.String(
    required=True, load_only=True, validate=validate.Length(PASSWORD_MIN, PASSWORD_MAX)
)


class JsonBoolean(fields.Boolean):
    """`true` or `false` in a JSON body, as the document says (marshmallow's Boolean also
    takes 0, 1, "yes", ..., which suits query strings)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonInteger(fields.Integer):
    """An integer as the document (JSON Schema) counts them: 3 and 3.0 alike, never "3",
    2.5 or a boolean."""

    def __init__(self, **kwargs) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


def _email(**kwargs) -> fields.Email:
    return fields.Email(validate=validate.Length(max=users.MAX_LENGTHS["email"]), **kwargs)


def _name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=users.MAX_LENGTHS["name"]), **kwargs)


class PaginationSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    # Bounded: a larger offset is an empty page anyway, and would overflow SQL integers.
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


def page_body(page, query: dict) -> dict:
    """A list endpoint's answer: one page of items, the total, and the window asked for."""
    return {
        "items": page.items,
        "total": page.total,
        "limit": query["limit"],
        "offset": query["offset"],
    }


class PageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class UserSchema(Schema):
    id = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RegisterSchema(Schema):
    email = _email(required=True)
    password = Password
    name = _name(load_default="")


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(1, 320))
    password = fields.String(required=True, load_only=True, validate=validate.Length(1, 1024))


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    user = fields.Nested(UserSchema, required=True)


class ProfileUpdateSchema(Schema):
    email = _email()
    name = _name()


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, load_only=True)
    new_password = Password


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))


class ApiKeySchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True, metadata={"description": "the key's first characters"})
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "shown this once only"})


class ApiKeyListSchema(Schema):
    items = fields.List(fields.Nested(ApiKeySchema))
