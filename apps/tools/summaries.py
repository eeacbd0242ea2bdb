"""Visitor-facing summaries of tool calls ("Looked up order 1234")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_MAX_VALUE = 60


def template_fields(template: str) -> set[str]:
    return set(_FIELD.findall(template or ""))


def render_summary(template: str, arguments: Mapping[str, Any]) -> str:
    """Fill ``{name}`` fields from the arguments; nothing else is interpreted.

    ``str.format`` is deliberately not used: it would let a template reach attributes
    (``{x.__class__}``). Missing values become empty; values are clipped and flattened.
    """
    if not template:
        return ""

    def value(match: re.Match[str]) -> str:
        raw = arguments.get(match.group(1))
        text = "" if raw is None else " ".join(str(raw).split())
        return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"

    return " ".join(_FIELD.sub(value, template).split())[:200]


def unknown_fields(template: str, known: Iterable[str]) -> set[str]:
    return template_fields(template) - set(known)
