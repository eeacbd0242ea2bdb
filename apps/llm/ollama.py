"""The models installed on a tenant's Ollama server: list, pull (with live progress), delete.

The server is the one the tenant's ``Provider`` points at (an on-premises GPU box, so loopback
and private addresses are expected here). Every call has a timeout, and every failure becomes
a coded ``AppError`` whose message a person can act on; a traceback never reaches a page.

A pull can take many minutes, so it runs in a Celery task (``llm.ollama_pull``) that writes its
progress into the cache. Cache keys are tenant-aware (the cache's key function prefixes the
schema name), so one tenant's pulls are invisible to another, even for the same provider id.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from apps.core.errors import AppError, Conflict, InvalidInput, NotFound, Unavailable
from apps.llm.models import Provider, ProviderKind
from apps.tools.netguard import is_metadata_host, parse_ip, resolve_host

logger = logging.getLogger(__name__)

LIST_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
DELETE_TIMEOUT = httpx.Timeout(30.0, connect=3.0)
# Ollama sends progress lines continuously; a long silence means the server is stuck.
PULL_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=30.0, pool=5.0)
PULL_TTL_SECONDS = 24 * 3600
PULL_WRITE_INTERVAL_SECONDS = 0.25
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:]{0,199}$")


class OllamaUnreachable(Unavailable):
    code = "ollama_unreachable"


@dataclass(frozen=True)
class InstalledModel:
    name: str
    size_bytes: int
    parameter_size: str
    quantization: str
    family: str
    modified_at: str

    @property
    def size_gb(self) -> float:
        return self.size_bytes / 1_000_000_000

    @property
    def size_label(self) -> str:
        if self.size_bytes and self.size_gb < 0.01:
            return "< 0.01 GB"
        return f"{self.size_gb:.2f} GB"


def ollama_base(provider: Provider) -> str:
    """The server's base URL. Private and loopback addresses are fine (an on-premises GPU box);
    cloud metadata endpoints never are, whatever name leads there."""
    if provider.kind != ProviderKind.OLLAMA:
        raise InvalidInput(f"{provider.name} is not an Ollama server.", code="not_ollama")
    base = (provider.api_base or settings.OLLAMA_BASE_URL).rstrip("/")
    host = urlsplit(base).hostname or ""
    try:
        addresses = [] if parse_ip(host) else resolve_host(host, 0)
    except (OSError, UnicodeError):
        addresses = []  # unresolvable: the request itself fails with a clear message
    if is_metadata_host(host) or any(is_metadata_host(address) for address in addresses):
        raise InvalidInput(
            "Cloud metadata addresses are never reachable from here.", code="metadata_refused"
        )
    return base


def _failure(base: str, exc: Exception) -> OllamaUnreachable:
    """A message that says what went wrong and what to check, never the raw exception."""
    if isinstance(exc, httpx.TimeoutException):
        message = f"The Ollama server at {base} did not answer in time. Is it overloaded?"
    elif isinstance(exc, httpx.HTTPStatusError):
        message = (
            f"The server at {base} answered with HTTP {exc.response.status_code}. "
            "Check that the base URL points at Ollama (e.g. http://gpu-1.lan:11434)."
        )
    elif isinstance(exc, ValueError):  # JSON that is not Ollama's
        message = f"The server at {base} did not answer like an Ollama server."
    else:
        message = (
            f"Cannot reach the Ollama server at {base}. Check that Ollama is running and that "
            "this server can reach that address."
        )
    logger.warning("Ollama at %s failed: %s", base, type(exc).__name__)
    return OllamaUnreachable(message)


def ollama_models(*, provider: Provider) -> list[InstalledModel]:
    """The models installed on the server, read live from ``GET /api/tags``, by name."""
    base = ollama_base(provider)
    try:
        response = httpx.get(f"{base}/api/tags", timeout=LIST_TIMEOUT)
        response.raise_for_status()
        models = [_installed(row) for row in response.json().get("models") or []]
    except httpx.HTTPError as exc:
        raise _failure(base, exc) from None
    except (ValueError, TypeError, AttributeError):
        raise _failure(base, ValueError()) from None
    return sorted(models, key=lambda model: model.name)


def _installed(row: dict[str, Any]) -> InstalledModel:
    details = row.get("details") or {}
    return InstalledModel(
        name=str(row.get("name") or row.get("model") or ""),
        size_bytes=int(row.get("size") or 0),
        parameter_size=str(details.get("parameter_size") or ""),
        quantization=str(details.get("quantization_level") or ""),
        family=str(details.get("family") or ""),
        modified_at=str(row.get("modified_at") or ""),
    )


def _error_of(response: httpx.Response) -> str:
    """Ollama's own error text from an error response (``{"error": "..."}``), if any."""
    try:
        return str(response.json().get("error") or "")[:300]
    except (ValueError, AttributeError):
        return ""


def check_model_name(name: str) -> str:
    name = (name or "").strip()
    if not MODEL_NAME.match(name):
        raise InvalidInput(
            "Enter a model name from the Ollama library, e.g. llama3.2:3b or qwen2.5:7b.",
            code="invalid_model_name",
        )
    return name


def ollama_delete(*, provider: Provider, model: str) -> None:
    """Remove a model from the server's disk (``DELETE /api/delete``)."""
    base = ollama_base(provider)
    model = check_model_name(model)
    try:
        response = httpx.request(
            "DELETE", f"{base}/api/delete", json={"model": model}, timeout=DELETE_TIMEOUT
        )
    except httpx.HTTPError as exc:
        raise _failure(base, exc) from None
    if response.status_code == 404:
        raise NotFound(f"{model} is not installed on {provider.name}.", code="model_not_installed")
    if response.status_code >= 400:
        error = _error_of(response)
        if error:
            raise InvalidInput(f"Ollama refused to delete {model}: {error}", code="ollama_error")
        raise _failure(base, httpx.HTTPStatusError("", request=response.request, response=response))


# --- Pulls and their progress --------------------------------------------------------------------


class PullStatus:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"


@dataclass
class PullProgress:
    model: str
    status: str = PullStatus.QUEUED
    detail: str = "Waiting for a worker…"
    completed: int = 0
    total: int = 0
    message: str = ""  # the error, when status is "error"
    layers: dict[str, list[int]] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        if self.status == PullStatus.SUCCESS:
            return 100
        if not self.total:
            return 0
        return min(99, int(self.completed * 100 / self.total))

    @property
    def is_active(self) -> bool:
        return self.status in (PullStatus.QUEUED, PullStatus.RUNNING)

    @property
    def gb_done(self) -> float:
        return self.completed / 1_000_000_000

    @property
    def gb_total(self) -> float:
        return self.total / 1_000_000_000


def _progress_key(provider_id: int, model: str) -> str:
    # The cache's key function adds the tenant's schema in front of this.
    return f"llm:ollama-pull:{provider_id}:{model}"


def _index_key(provider_id: int) -> str:
    return f"llm:ollama-pulls:{provider_id}"


def _save(provider_id: int, progress: PullProgress) -> None:
    cache.set(_progress_key(provider_id, progress.model), asdict(progress), PULL_TTL_SECONDS)


def pull_progress_get(*, provider_id: int, model: str) -> PullProgress | None:
    data = cache.get(_progress_key(provider_id, model))
    return PullProgress(**data) if data else None


def pulls_for(*, provider_id: int) -> list[PullProgress]:
    """The pulls started on this provider that are running or not yet shown as finished."""
    names: list[str] = cache.get(_index_key(provider_id)) or []
    pulls = [pull_progress_get(provider_id=provider_id, model=name) for name in names]
    return [pull for pull in pulls if pull is not None]


def pulls_forget_finished(*, provider_id: int) -> None:
    """Drop finished pulls from the list once they have been shown."""
    names: list[str] = cache.get(_index_key(provider_id)) or []
    keep = []
    for name in names:
        pull = pull_progress_get(provider_id=provider_id, model=name)
        if pull is not None and pull.is_active:
            keep.append(name)
    cache.set(_index_key(provider_id), keep, PULL_TTL_SECONDS)


def ollama_pull_start(*, provider: Provider, model: str) -> PullProgress:
    """Record a queued pull and start ``llm.ollama_pull`` once the transaction commits."""
    ollama_base(provider)
    model = check_model_name(model)
    current = pull_progress_get(provider_id=provider.pk, model=model)
    if current is not None and current.is_active:
        raise Conflict(f"{model} is already being pulled.", code="pull_in_progress")
    progress = PullProgress(model=model)
    _save(provider.pk, progress)
    names: list[str] = cache.get(_index_key(provider.pk)) or []
    cache.set(_index_key(provider.pk), [*[n for n in names if n != model], model], PULL_TTL_SECONDS)
    schema = connection.schema_name  # type: ignore[attr-defined]  # django-tenants backend
    provider_id = provider.pk

    def send() -> None:
        from config.celery import app

        app.send_task(
            "llm.ollama_pull", args=[provider_id, model], headers={"_schema_name": schema}
        )

    transaction.on_commit(send)
    return progress


def _apply_line(progress: PullProgress, line: dict[str, Any]) -> None:
    status = str(line.get("status") or "")
    if line.get("error"):
        progress.status = PullStatus.ERROR
        progress.message = f"Ollama refused the pull: {line['error']}"
        return
    if status == "success":
        progress.status = PullStatus.SUCCESS
        progress.detail = "Installed"
        progress.completed = progress.total
        return
    progress.status = PullStatus.RUNNING
    progress.detail = status.replace("sha256:", "")[:60] or progress.detail
    digest = line.get("digest")
    if digest and line.get("total"):
        # One entry per layer; the whole pull is the sum of its layers.
        progress.layers[str(digest)] = [int(line.get("completed") or 0), int(line["total"])]
        progress.completed = sum(done for done, _ in progress.layers.values())
        progress.total = sum(total for _, total in progress.layers.values())


def ollama_pull_run(*, provider_id: int, model: str) -> PullProgress:
    """Pull ``model`` onto the provider's server, writing progress as it goes (the task's body)."""
    progress = pull_progress_get(provider_id=provider_id, model=model) or PullProgress(model=model)
    progress.status, progress.detail = PullStatus.RUNNING, "Starting…"
    provider = Provider.objects.filter(pk=provider_id, kind=ProviderKind.OLLAMA).first()
    if provider is None:
        progress.status, progress.message = PullStatus.ERROR, "The provider no longer exists."
        _save(provider_id, progress)
        return progress
    _save(provider_id, progress)
    try:
        base = ollama_base(provider)
    except AppError as exc:
        progress.status, progress.message = PullStatus.ERROR, exc.message
        _save(provider_id, progress)
        return progress
    try:
        _stream_pull(base, provider_id, progress)
    except (httpx.HTTPError, ValueError) as exc:
        progress.status = PullStatus.ERROR
        progress.message = _failure(base, exc).message
    if progress.status == PullStatus.RUNNING:  # the stream ended without "success"
        progress.status = PullStatus.ERROR
        progress.message = "The Ollama server closed the download before it finished."
    _save(provider_id, progress)
    return progress


def _stream_pull(base: str, provider_id: int, progress: PullProgress) -> None:
    last_write = 0.0
    with httpx.stream(
        "POST",
        f"{base}/api/pull",
        json={"model": progress.model, "stream": True},
        timeout=PULL_TIMEOUT,
    ) as response:
        if response.status_code >= 400:
            response.read()
            error = _error_of(response)
            if not error:
                raise httpx.HTTPStatusError("", request=response.request, response=response)
            _apply_line(progress, {"error": error})
            return
        for raw in response.iter_lines():
            if not raw.strip():
                continue
            _apply_line(progress, json.loads(raw))
            if progress.status == PullStatus.ERROR:
                return
            if time.monotonic() - last_write >= PULL_WRITE_INTERVAL_SECONDS:
                last_write = time.monotonic()
                _save(provider_id, progress)


def pull_failed(*, provider_id: int, model: str, message: str) -> None:
    progress = pull_progress_get(provider_id=provider_id, model=model) or PullProgress(model=model)
    progress.status, progress.message = PullStatus.ERROR, message
    _save(provider_id, progress)
