"""The built-in node types, by name (docs/NODES.md documents each)."""

from __future__ import annotations

from ..http_client import HttpClient
from .base import NodeType
from .core import Fail, If, Manual, Merge, NoOp, ScheduleTrigger, SetFields, Wait, WebhookTrigger
from .credential import CredentialCheck
from .http_request import HttpRequest

BUILT_IN: tuple[type[NodeType], ...] = (
    Manual,
    WebhookTrigger,
    ScheduleTrigger,
    SetFields,
    If,
    Merge,
    NoOp,
    Fail,
    Wait,
    HttpRequest,
    CredentialCheck,
)
NAMES: tuple[str, ...] = tuple(kind.name for kind in BUILT_IN)


def node_types(client: HttpClient) -> dict[str, NodeType]:
    """One instance of each built-in type, by name; `http_request` sends with `client`."""
    made = [kind(client) if kind is HttpRequest else kind() for kind in BUILT_IN]
    return {kind.name: kind for kind in made}
