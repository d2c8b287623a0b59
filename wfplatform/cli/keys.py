"""`flask wf gen-key`: a new entry for the key ring credentials are sealed with;
`flask wf verify-keys`: whether the ring opens every stored credential; `flask wf
rotate-key`: every credential sealed again with the newest key."""

from __future__ import annotations

import click

from ..bootstrap import get_storage, services
from ..services.encryption import SETTING, KeyRingError, new_entry
from ..services.key_check import verify_keys
from ..services.key_rotation import DEFAULT_BATCH, rotate_keys
from .operator import operator
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


@click.command("rotate-key")
@click.option("--dry-run", is_flag=True, help="Count what would be sealed again; write nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Credentials read at a time.",
)
def rotate_key_command(dry_run: bool, batch_size: int) -> None:
    """Seal every stored credential not yet under the ring's newest key again with it,
    through the storage adapter (every mode, dual ordering and the journal apply; an edit
    made meanwhile is never overwritten, and is left for the next run). Run it again
    after a kill: it resumes. Prints the report as JSON (the pass, credentials per key id
    before and after in each backend, and which old keys may now be removed); exits 1
    when any credential failed."""
    with reported_errors():
        report = rotate_keys(
            services().credentials, operator(), dry_run=dry_run, batch_size=batch_size
        )
    echo_json(report)
    if report["failed"]:
        raise SystemExit(1)


COMMANDS = [gen_key_command, verify_keys_command, rotate_key_command]
