"""Helpers shared by the connector and tool commands."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from apps.core.errors import InvalidInput, NotFound


def secret_from_env(variable: str | None, *, what: str) -> str:
    """Read a secret from the environment variable an operator named on the command line.

    Secrets never travel as command-line arguments (they would land in shell history and in
    the process list); the operator names a variable instead. Reading it here, outside
    settings, is the point of the option.
    """
    if not variable:
        return ""
    value = os.environ.get(variable)
    if value is None:
        raise InvalidInput(
            f"The environment variable {variable} ({what}) is not set.", code="missing_secret"
        )
    return value


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def assistants_named(names: Iterable[str]) -> list[Any]:
    from apps.llm.models import Assistant

    found = []
    for name in names:
        assistant = Assistant.objects.filter(name=name).first()
        if assistant is None:
            raise NotFound(f"No assistant named '{name}'.", code="assistant_not_found")
        found.append(assistant)
    return found
