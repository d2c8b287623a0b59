"""Per-user quotas: how many workflows, how many versions, how many stored bytes.

Memory-first storage modes hold every record in the process, so without a bound one user
could exhaust the memory of the service for everybody. Each write that stores a workflow
or a version checks, inside its unit of work, what the owner's records already take
(counting reads of the repositories, not a listing) plus what the write adds.

Exceeding a quota is 409 `quota_exceeded`: the request conflicts with the state of the
account, which its owner can change (delete workflows) and then send again. Not 429:
waiting frees nothing, and clients retry a 429 by themselves. Not 422: the same request
is valid for another user. Quotas apply to admins as well (a leaked admin token must not
exhaust memory either); a restore of a whole export (`/admin/import`) does not check them.
A user's concurrent requests may each pass the check before the others commit, so a quota
can be overshot by the writes in flight at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Conflict


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


@dataclass(frozen=True)
class Quotas:
    """Limits per user; 0 is no limit."""

    workflows: int = 0
    versions: int = 0
    bytes: int = 0

    def check(
        self, uow, user_id: str | None, *, workflows: int = 0, versions: int = 0, size: int = 0
    ) -> None:
        """Refuse a write that adds `workflows`, `versions` and `size` bytes to what the
        records of `user_id` hold now."""
        wanted = ((self.workflows, workflows), (self.versions, versions), (self.bytes, size))
        if user_id is None or not any(limit and requested > 0 for limit, requested in wanted):
            return  # no limit to check: counting would cost more than the write
        owned = uow.workflows.usage_of(user_id)
        history = uow.workflow_versions.usage_of(user_id)
        self._within("workflows", self.workflows, owned.count, workflows)
        self._within("versions", self.versions, history.count, versions)
        self._within("bytes", self.bytes, owned.bytes + history.bytes, size)

    @staticmethod
    def _within(quota: str, limit: int, usage: int, requested: int) -> None:
        if limit and requested > 0 and usage + requested > limit:
            raise QuotaExceeded(
                f"the {quota} quota of this account is used up: {usage} of {limit} used, "
                f"this request needs {requested} more; delete workflows to make room",
                {"quota": quota, "limit": limit, "usage": usage, "requested": requested},
            )
