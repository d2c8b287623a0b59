"""`flask wf gen-key`: a new entry for the key ring credentials are sealed with;
`flask wf verify-keys`: whether the ring opens every stored credential."""

from __future__ import annotations

import click

from ..bootstrap import get_storage, services
from ..services.encryption import SETTING, KeyRingError, new_entry
from ..services.key_check import verify_keys
from .output import echo_json, reported_errors


@click.command("gen-key")
@click.option("--id", "key_id", help="The key's id (default: k<today><4 hex digits>).")
def gen_key_command(key_id: str | None) -> None:
    """Print a new ring entry, KEY_ID:BASE64_32_BYTES, and nothing else. Put it first in
    WF_ENCRYPTION_KEYS (newest first: it seals from the next start on, the others still
    open what they sealed)."""
    try:
        click.echo(new_entry(key_id))
    except KeyRingError as error:
        raise click.BadParameter(str(error), param_hint="--id") from None
    click.echo(f"# put it first in {SETTING}; keep it secret and backed up", err=True)


@click.command("verify-keys")
def verify_keys_command() -> None:
    """Test-open every stored credential with the ring, in every backend the credentials'
    mode keeps them in, writing nothing; print the report as JSON (per backend: scanned,
    opened, failed with ids and reasons, credentials per key id; per key of the ring:
    whether it may be removed). Exits 1 when any credential does not open."""
    with reported_errors():
        ring = services().credentials.key_ring()
        report = verify_keys(get_storage(), ring)
    echo_json(report)
    if report["failed"]:
        raise SystemExit(1)


COMMANDS = [gen_key_command, verify_keys_command]
