"""Logging helpers: a filter that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(sk|ek|ws)_[A-Za-z0-9]{6,}_[A-Za-z0-9_\-]{8,}"),  # our API keys
    re.compile(r"sk-[A-Za-z0-9_\-]{12,}"),  # OpenAI / Anthropic style provider keys
    re.compile(r"(?i)(authorization:\s*bearer\s+)[^\s'\"]+"),
    re.compile(
        r"(?i)((?:password|passwd|secret|api_key|apikey|token)[\"']?\s*[:=]\s*[\"']?)[^\s'\",}]+"
    ),
    re.compile(r"(postgres(?:ql)?|mysql|redis|amqp)://([^:/\s]+):[^@\s]+@"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2 and pattern.pattern.startswith("(postgres"):
            text = pattern.sub(r"\1://\2:***@", text)
        elif pattern.groups >= 1 and "(?i)(" in pattern.pattern:
            text = pattern.sub(r"\1***", text)
        else:
            text = pattern.sub("***", text)
    return text


_TRACEBACK_FORMATTER = logging.Formatter()


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message, traceback and stack with known secret shapes masked.

    A formatter renders ``exc_info`` only after filters ran, so the traceback (whose exception
    message may quote a DSN or a header) is rendered here, redacted, and stored in ``exc_text``,
    which every ``logging.Formatter`` then uses as is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
