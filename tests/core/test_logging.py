"""No secret reaches a log line."""

from __future__ import annotations

import logging

import pytest

from apps.core.logging import RedactSecretsFilter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("using key sk_AbCdEf123456_zzzzzzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzz"),
        ("provider said sk-proj-ABCDEFGHIJKLMNOPQRST", "ABCDEFGHIJKLMNOPQRST"),
        ("headers Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("connect postgres://app:s3cr3tpw@db:5432/x", "s3cr3tpw"),
        ('payload {"password": "hunter22"}', "hunter22"),
        ("api_key=ZXCVBNM123", "ZXCVBNM123"),
    ],
)
def test_redact_masks_known_secret_shapes(text, secret):
    assert secret not in redact(text)


def test_filter_rewrites_records_with_args():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("abcdef123",), None)
    RedactSecretsFilter().filter(record)
    assert "abcdef123" not in record.getMessage()


def test_tracebacks_and_stacks_are_redacted_too():
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.redact.traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ConnectionError("could not reach postgres://app:tracepw99@db:5432/x")
        except ConnectionError:
            logger.exception("connect failed with sk-proj-TRACEBACKSECRET123", stack_info=True)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "ConnectionError" in output and "Stack (most recent call last)" in output
    assert "tracepw99" not in output
    assert "TRACEBACKSECRET123" not in output
