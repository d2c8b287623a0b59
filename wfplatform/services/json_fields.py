"""marshmallow fields that read JSON bodies the way the OpenAPI document (JSON Schema)
describes them, for the API's schemas and the content schemas imports share with it."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields


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


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date and time with its offset, read as the instant it names, in UTC:
    every backend then stores and answers the same value (SQLite keeps no offset). An
    offset that carries the instant past years 1 to 9999 is refused, not stored."""

    default_error_messages = {"range": "outside the years 1 to 9999 in UTC"}

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            return aware.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None
