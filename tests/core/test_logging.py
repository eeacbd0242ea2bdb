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
