"""How commands answer: JSON on standard output, and errors as the API's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..errors import DomainError, StorageUnavailable


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def reported_errors() -> Iterator[None]:
    """A refusal or an outage ends the command with its error (exit code 1), not a
    traceback."""
    try:
        yield
    except (DomainError, StorageUnavailable) as error:
        raise click.ClickException(json.dumps(error.to_dict(), indent=2, default=str)) from error
