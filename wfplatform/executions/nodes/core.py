"""The node types that need nothing outside the engine: triggers, `set`, `if`, `merge`,
`noop`, `fail` and `wait`."""

from __future__ import annotations

import numbers
from typing import Any

from marshmallow import Schema, fields, validate

from ...services.json_fields import JsonBoolean
from ...services.workflow_content import plain_json
from ..expressions import resolve
from .base import Item, NodeCall, NodeFailed, NodeType, Outputs

MAX_WAIT_SECONDS = 3600.0  # a run that must wait longer should be scheduled, not held open


class NoParameters(Schema):
    pass


class PassThrough(NodeType):
    """Answers the items it received, on one output."""

    parameters = NoParameters

    def run(self, call: NodeCall) -> Outputs:
        return [call.items]


class Trigger(PassThrough):
    """Starts a run with the execution's input as its items."""

    trigger = True


class Manual(Trigger):
    name = "manual"
    description = "Starts a run by hand (`POST /api/workflows/<id>/execute`)."


class WebhookTrigger(Trigger):
    """The shape is documented in docs/NODES.md; run by hand, its items are the input."""

    name = "webhook"
    description = "Starts a run on an HTTP request; run by hand, the input is its payload."

    class parameters(Schema):  # noqa: N801 - a schema, as every type's
        path = fields.String()
        method = fields.String()
        respond = fields.String()


class ScheduleTrigger(Trigger):
    name = "schedule"
    description = "Starts a run on a timetable; run by hand, the input is its items."

    class parameters(Schema):  # noqa: N801
        cron = fields.String()
        interval_seconds = fields.Integer()
        timezone = fields.String()


class SetParameters(Schema):
    values = fields.Dict(keys=fields.String(), load_default=dict, validate=plain_json)
    keep_only_set = JsonBoolean(load_default=False)


class SetFields(NodeType):
    name = "set"
    description = "Adds or changes fields of each item (`{{ $json.field }}` allowed)."
    parameters = SetParameters

    def run(self, call: NodeCall) -> Outputs:
        values, keep_only = call.parameters["values"], call.parameters["keep_only_set"]
        return [[{**({} if keep_only else item), **resolve(values, item)} for item in call.items]]


OPERATORS = ("equals", "not_equals", "contains", "greater_than", "less_than", "is_empty")


class ConditionSchema(Schema):
    left = fields.Raw(required=True, allow_none=True)
    operator = fields.String(required=True, validate=validate.OneOf(OPERATORS))
    right = fields.Raw(allow_none=True, load_default=None)


class IfParameters(Schema):
    conditions = fields.List(
        fields.Nested(ConditionSchema), required=True, validate=validate.Length(1, 100)
    )
    combine = fields.String(load_default="all", validate=validate.OneOf(("all", "any")))


class If(NodeType):
    name = "if"
    description = "Sends each item to output 0 when the conditions hold, else to output 1."
    parameters = IfParameters

    def run(self, call: NodeCall) -> Outputs:
        combine = all if call.parameters["combine"] == "all" else any
        outputs: Outputs = [[], []]
        for item in call.items:
            holds = combine(_holds(condition, item) for condition in call.parameters["conditions"])
            outputs[0 if holds else 1].append(item)
        return outputs


def _holds(condition: dict[str, Any], item: Item) -> bool:
    left, right = resolve(condition["left"], item), resolve(condition["right"], item)
    operator = condition["operator"]
    if operator == "is_empty":
        return left in (None, "", [], {})
    if operator in ("equals", "not_equals"):
        return _same(left, right) == (operator == "equals")
    if operator == "contains":
        return isinstance(left, str | list) and _contains(left, right)
    if not (_is_number(left) and _is_number(right)):
        return False  # only numbers compare; "10" > 9 is no question to guess at
    return left > right if operator == "greater_than" else left < right


def _contains(container: str | list, value: Any) -> bool:
    if isinstance(container, str):
        return isinstance(value, str) and value in container
    return any(_same(element, value) for element in container)


def _same(left: Any, right: Any) -> bool:
    """JSON's equality: `true` is not `1` (Python's `==` says it is), `1` is `1.0`."""
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return left == right


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Merge(PassThrough):
    name = "merge"
    description = "Passes on the items of every input, input after input."


class NoOp(PassThrough):
    name = "noop"
    description = "Passes its items on unchanged."


class FailParameters(Schema):
    message = fields.String(load_default="failed on purpose", validate=validate.Length(1, 1000))


class Fail(NodeType):
    name = "fail"
    description = "Fails the run with its message."
    parameters = FailParameters

    def run(self, call: NodeCall) -> Outputs:
        raise NodeFailed(call.parameters["message"])


class WaitParameters(Schema):
    seconds = fields.Float(
        required=True, validate=validate.Range(0, MAX_WAIT_SECONDS), allow_nan=False
    )


class Wait(NodeType):
    name = "wait"
    description = (
        f"Waits (at most {MAX_WAIT_SECONDS:g} s), then passes its items on; a cancel ends it."
    )
    parameters = WaitParameters

    def run(self, call: NodeCall) -> Outputs:
        call.pause(call.parameters["seconds"])
        return [call.items]
