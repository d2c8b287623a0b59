"""Request and response schemas shared by the API's blueprints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..domain import users
from ..repositories.base import COUNTED_AT_MOST
from ..services.ownership import OWNER_ALL, OWNER_ME
from ..services.passwords import MAX_LENGTH as PASSWORD_MAX
from ..services.passwords import MIN_LENGTH as PASSWORD_MIN

Password = fields.String(
    required=True, load_only=True, validate=validate.Length(PASSWORD_MIN, PASSWORD_MAX)
)


def _email(**kwargs) -> fields.Email:
    return fields.Email(validate=validate.Length(max=users.MAX_LENGTHS["email"]), **kwargs)


def _checked_password(**kwargs) -> fields.String:
    """A password being checked, not set (whatever length it was set with earlier)."""
    return fields.String(load_only=True, validate=validate.Length(1, 1024), **kwargs)


def _name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=users.MAX_LENGTHS["name"]), **kwargs)


class PaginationSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    # Bounded: a larger offset is an empty page anyway, and would overflow SQL integers.
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


def owner_filter() -> fields.String:
    """Whose records a list shows (see `services.ownership.owner_scope`)."""
    return fields.String(
        load_default=OWNER_ME,
        validate=validate.Length(1, 36),
        metadata={"description": f"`{OWNER_ME}`; admins also `{OWNER_ALL}` or a user id"},
    )


def page_body(page, query: dict) -> dict:
    """A list endpoint's answer: one page of items, the total, and the window asked for."""
    return {
        "items": page.items,
        "total": page.total,
        "total_exact": page.total_exact,
        "limit": query["limit"],
        "offset": query["offset"],
    }


class PageSchema(Schema):
    total = fields.Integer(
        required=True,
        metadata={"description": f"the matches, counted up to {COUNTED_AT_MOST:,}"},
    )
    total_exact = fields.Boolean(
        required=True,
        metadata={"description": f"false when more than {COUNTED_AT_MOST:,} match"},
    )
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
    password = _checked_password(required=True)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    user = fields.Nested(UserSchema, required=True)


class ProfileUpdateSchema(Schema):
    email = _email()
    name = _name()
    current_password = _checked_password(metadata={"description": "needed to change the email"})
    json_schema_rules = {"dependentRequired": {"email": ["current_password"]}}

    @validates_schema
    def _email_needs_the_password(self, data: dict, **_kwargs) -> None:
        if "email" in data and "current_password" not in data:
            raise ValidationError("needed to change the email", "current_password")


class PasswordChangeSchema(Schema):
    current_password = _checked_password(required=True)
    new_password = Password


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    current_password = _checked_password(required=True)


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
