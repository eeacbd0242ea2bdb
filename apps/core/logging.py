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


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message with known secret shapes masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
