"""`flask wf gen-key`: a new entry for the key ring credentials are sealed with."""

from __future__ import annotations

import click

from ..services.encryption import SETTING, KeyRingError, new_entry


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


COMMANDS = [gen_key_command]
