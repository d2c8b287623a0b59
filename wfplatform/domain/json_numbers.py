"""Numbers in JSON read the way every backend keeps them.

A float written as a whole number past 2**53 (`1e300`) is read as the exact integer the
JSON text means, which is what PostgreSQL's jsonb keeps (exact decimals) and gives back:
as a float, memory and the database would hold different values for good. A number past
a float's range (`1e400`) is read as an infinity, which the callers refuse (no backend
stores it)."""

from __future__ import annotations

from decimal import Decimal

EXACT_INTEGERS = 2**53  # below, a whole float is an integer every reader agrees on


def parse_number(text: str) -> float | int:
    """For `json.loads(..., parse_float=parse_number)`."""
    value = float(text)
    if value.is_integer() and abs(value) >= EXACT_INTEGERS:
        return int(Decimal(text))  # finite, so at most 309 digits
    return value
