"""The services an app's requests use, built once per app on first use."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from limits.storage import storage_from_string

from ..backfill.jobs import BackfillJobs
from ..backup.jobs import ImportJobs
from ..extensions import built_once, head_revision
from ..observability import TracedBackfiller, get_metrics
from ..services.accounts import Accounts
from ..services.api_keys import ApiKeys
from ..services.login_throttle import LoginThrottle, ThrottlePolicy
from ..services.passwords import Passwords
from ..services.quotas import Quotas
from ..services.tokens import Tokens
from ..services.workflows import Workflows
from ..storage_ext import get_storage


@dataclass(frozen=True)
class Services:
    accounts: Accounts
    api_keys: ApiKeys
    workflows: Workflows
    passwords: Passwords
    backfills: BackfillJobs
    imports: ImportJobs


def services(app: Flask | None = None) -> Services:
    return built_once("wf_services", build, app)


def build(app: Flask) -> Services:
    storage = get_storage(app)
    config = app.config
    passwords = Passwords(config["WF_PASSWORD_TIME_COST"], config["WF_PASSWORD_MEMORY_KIB"])
    tokens = Tokens(config["SECRET_KEY"], config["WF_TOKEN_MAX_AGE"])
    policy = ThrottlePolicy(
        per_account_and_address=config["WF_LOGIN_MAX_FAILURES"],
        per_account=config["WF_LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        per_address=config["WF_LOGIN_MAX_FAILURES_PER_ADDRESS"],
        longest_backoff=config["WF_LOGIN_BACKOFF_SECONDS"],
    )
    counters = storage_from_string(config["WF_RATELIMIT_STORAGE_URL"])
    throttle = LoginThrottle(counters, policy, config.get("RATELIMIT_KEY_PREFIX", ""))
    quotas = Quotas(
        config["WF_QUOTA_WORKFLOWS"], config["WF_QUOTA_VERSIONS"], config["WF_QUOTA_BYTES"]
    )
    return Services(
        accounts=Accounts(storage, passwords, tokens, throttle),
        api_keys=ApiKeys(storage),
        workflows=Workflows(storage, quotas),
        passwords=passwords,
        backfills=BackfillJobs(TracedBackfiller(storage, get_metrics(app))),
        imports=ImportJobs(storage, head_revision()),
    )
