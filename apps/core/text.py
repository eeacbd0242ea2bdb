"""Text from outside that must be storable: PostgreSQL refuses NUL characters, and a lone
UTF-16 surrogate (which JSON can carry as an escape) cannot be encoded as UTF-8 at all."""

from __future__ import annotations

import math
from typing import Any


def is_clean(value: str) -> bool:
    """Whether ``value`` can be stored as it is (no NUL, no lone surrogate)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean(value: str) -> str:
    """``value`` without NUL characters, a lone surrogate replaced by U+FFFD."""
    if is_clean(value):
        return value
    return "".join(
        "\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in value if char != "\x00"
    )


def storable_json(value: Any) -> Any:
    """A copy of a JSON-like value that PostgreSQL's jsonb accepts: strings (keys too) cleaned,
    NaN and infinities as None (jsonb has no such numbers)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


def json_is_storable(value: Any) -> bool:
    """Whether ``storable_json(value)`` would change nothing (NaN, unequal to itself, changes)."""
    return bool(storable_json(value) == value)
