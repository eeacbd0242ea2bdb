"""Errors raised while ingesting a source. Their messages are shown to people on the source."""

from __future__ import annotations

from apps.core.errors import AppError


class IngestionError(AppError):
    """A source cannot be (fully) ingested. ``code`` says why for programs, the message for people.

    Codes: ``file_too_large``, ``unsupported_type``, ``decompression_bomb``, ``xml_entities``,
    ``malformed_document``, ``text_too_large``, ``page_too_large``, ``empty_document``,
    ``address_refused``, ``fetch_failed``, ``http_error``, ``too_many_redirects``,
    ``robots_disallowed``, ``embedding_failed``.
    """

    code = "ingestion_failed"
    http_status = 422


class AddressRefused(IngestionError):
    """A URL points at an address the server must not reach (private, loopback, metadata, ...)."""

    code = "address_refused"
