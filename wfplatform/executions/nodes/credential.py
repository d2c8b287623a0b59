"""`credential`: opens the credential the node names, as a run does, and tells which fields
it holds (never their values: execution data is stored, and shown to whoever reads the
run). A step to make a run fail early, and say why, when a credential is unusable."""

from __future__ import annotations

from .base import NodeCall, NodeFailed, NodeType, Outputs
from .core import NoParameters


class CredentialCheck(NodeType):
    name = "credential"
    description = "Opens the credential it names; its item says which fields it holds."
    parameters = NoParameters

    def run(self, call: NodeCall) -> Outputs:
        kinds = list(call.node.get("credentials") or {})
        if not kinds:
            raise NodeFailed("the node names no credential")
        found = []
        for kind in kinds:
            data = call.credential(kind)
            reference = call.node["credentials"][kind]
            found.append({"type": kind, "id": reference.get("id"), "fields": sorted(data)})
        return [found]
