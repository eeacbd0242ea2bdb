"""Text from outside that must be storable: PostgreSQL refuses NUL characters, and a lone
UTF-16 surrogate (which JSON can carry as an escape) cannot be encoded as UTF-8 at all."""

from __future__ import annotations


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
