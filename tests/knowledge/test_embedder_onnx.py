"""The local embedder on ONNX Runtime: built from the pinned weights, faithful to
sentence-transformers, independent of batching, free of PyTorch, and replaced by the PyTorch
fallback (with a log line) when its file is missing."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.knowledge import embedder_build, embedder_onnx, embeddings
from apps.knowledge.embeddings import LocalEmbedder
from apps.knowledge.errors import IngestionError

BASE_DIR = Path(__file__).resolve().parents[2]
TEXTS = [
    "How many days of paid vacation do employees get?",
    "refund",
    "Install > On Linux\nRun make install, then make run; the server listens on port 8000.",
    "Employees receive twenty five days of paid vacation every calendar year. " * 4,
    "The pickle module implements binary protocols for serializing and de-serializing a "
    "Python object structure. " * 20,  # longer than the model's 256 tokens
]


@pytest.fixture(scope="session")
def built_model(tmp_path_factory) -> Path:
    """An int8 ONNX file built by the management command into a scratch folder."""
    path = tmp_path_factory.mktemp("embedder") / "minilm.onnx"
    call_command("build_embedder", "--output", str(path), stdout=open(os.devnull, "w"))  # noqa: SIM115
    return path


@pytest.fixture
def onnx_model(built_model):
    return embedder_onnx.load(
        built_model,
        tokenizer_path=embeddings.local_model_path() / "tokenizer.json",
        source_sha256=embeddings.LOCAL_MODEL_SHA256,
        threads=2,
    )


@pytest.fixture
def fresh_runner(monkeypatch):
    """LocalEmbedder loads its runner again in this test (and forgets cached queries)."""
    monkeypatch.setattr(LocalEmbedder, "_runner", None)
    monkeypatch.setattr(LocalEmbedder, "_query_cache", type(LocalEmbedder._query_cache)())


def test_build_writes_the_model_and_a_manifest_that_vouches_for_it(built_model):
    manifest = json.loads(embedder_onnx.manifest_path(built_model).read_text())
    assert manifest["source_sha256"] == embeddings.LOCAL_MODEL_SHA256
    assert manifest["onnx_sha256"] == embedder_onnx.sha256_file(built_model)
    assert manifest["variant"] == "int8"
    assert manifest["verification"]["cosine_min"] >= embedder_build.VERIFY_BOUNDS["int8"][0]


def test_onnx_vectors_are_close_to_sentence_transformers_float32(onnx_model):
    from sentence_transformers import SentenceTransformer

    path = str(embeddings.local_model_path())
    reference = SentenceTransformer(path, device="cpu", local_files_only=True)  # float32
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = onnx_model.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() > 0.97 and cosines.mean() > 0.985, cosines


def test_a_text_gets_the_same_vector_whatever_it_is_embedded_with(onnx_model):
    together = onnx_model.encode(TEXTS)
    reversed_order = onnx_model.encode(TEXTS[::-1])[::-1]
    one_by_one = np.vstack([onnx_model.encode([text]) for text in TEXTS])
    np.testing.assert_allclose(together, reversed_order, atol=1e-6)
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    assert onnx_model.encode([]).shape == (0, 384)


def test_local_embedder_uses_the_onnx_file_for_documents_and_queries(
    built_model, settings, fresh_runner
):
    settings.KNOWLEDGE_LOCAL_EMBEDDER = "auto"
    settings.KNOWLEDGE_LOCAL_EMBEDDER_ONNX = str(built_model)
    embedder = LocalEmbedder()
    assert embedder.runner_name == "onnx-int8"
    documents = embedder.embed_documents(TEXTS)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[0]), documents[0], atol=1e-6)


def test_a_missing_onnx_file_falls_back_to_sentence_transformers_and_says_so(
    tmp_path, settings, fresh_runner, caplog
):
    settings.KNOWLEDGE_LOCAL_EMBEDDER = "auto"
    settings.KNOWLEDGE_LOCAL_EMBEDDER_ONNX = str(tmp_path / "missing.onnx")
    with caplog.at_level(logging.WARNING, logger="apps.knowledge.embeddings"):
        embedder = LocalEmbedder()
        vectors = embedder.embed_documents(TEXTS[:2])
    assert embedder.runner_name.startswith("sentence-transformers-")
    assert vectors.shape == (2, 384)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "falling back to sentence-transformers" in warning
    assert "missing.onnx does not exist" in warning
    assert "manage.py build_embedder" in warning


def test_onnx_only_mode_refuses_to_fall_back(tmp_path, settings, fresh_runner):
    settings.KNOWLEDGE_LOCAL_EMBEDDER = "onnx"
    settings.KNOWLEDGE_LOCAL_EMBEDDER_ONNX = str(tmp_path / "missing.onnx")
    with pytest.raises(IngestionError) as caught:
        LocalEmbedder().embed_query("anything")
    assert caught.value.code == "embedding_failed"
    assert "build_embedder" in caught.value.message


def test_a_damaged_or_foreign_onnx_file_is_not_loaded(built_model, tmp_path):
    tokenizer = embeddings.local_model_path() / "tokenizer.json"
    damaged = tmp_path / "damaged.onnx"
    shutil.copy(built_model, damaged)
    shutil.copy(embedder_onnx.manifest_path(built_model), embedder_onnx.manifest_path(damaged))
    with damaged.open("r+b") as handle:
        handle.seek(damaged.stat().st_size // 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(embedder_onnx.OnnxModelUnusable, match="SHA-256 differs"):
        embedder_onnx.load(
            damaged, tokenizer_path=tokenizer, source_sha256=embeddings.LOCAL_MODEL_SHA256
        )
    with pytest.raises(embedder_onnx.OnnxModelUnusable, match="other weights"):
        embedder_onnx.load(built_model, tokenizer_path=tokenizer, source_sha256="0" * 64)
    embedder_onnx.manifest_path(damaged).unlink()
    with pytest.raises(embedder_onnx.OnnxModelUnusable, match="manifest"):
        embedder_onnx.load(
            damaged, tokenizer_path=tokenizer, source_sha256=embeddings.LOCAL_MODEL_SHA256
        )


def test_build_refuses_weights_that_do_not_match_the_pinned_checksum(tmp_path, monkeypatch):
    output = tmp_path / "refused.onnx"
    monkeypatch.setattr(embeddings, "LOCAL_MODEL_SHA256", "0" * 64)
    with pytest.raises(CommandError, match="not the pinned"):
        call_command("build_embedder", "--output", str(output))
    assert not output.exists()
    assert not embedder_onnx.manifest_path(output).exists()


def test_build_refuses_altered_weights_in_a_copy_of_the_package(tmp_path):
    source = tmp_path / "model"
    shutil.copytree(embeddings.local_model_path(), source, ignore=lambda *_: ["model.safetensors"])
    (source / "model.safetensors").write_bytes(b"not the pinned weights")
    output = tmp_path / "refused.onnx"
    with pytest.raises(embedder_build.BuildError, match="SHA-256"):
        embedder_build.build_embedder(output, source_dir=source, log=lambda _: None)
    assert list(tmp_path.glob("refused*")) == []


def test_make_install_builds_the_file_the_settings_load():
    makefile = (BASE_DIR / "Makefile").read_text()
    target = re.search(r"^EMBEDDER := (\S+)$", makefile, re.M)
    assert target is not None
    assert BASE_DIR / target.group(1) == embedder_build.DEFAULT_OUTPUT
    assert Path(settings.KNOWLEDGE_LOCAL_EMBEDDER_ONNX) == embedder_build.DEFAULT_OUTPUT
    install = re.search(r"^install: (.*?)##", makefile, re.M)
    assert install is not None and "$(EMBEDDER).json" in install.group(1)


_PROBE = """
import json, sys
import django
django.setup()
from apps.knowledge.detect import detect_type
from apps.knowledge.extract import extract
from apps.knowledge.embeddings import LocalEmbedder
from tests.knowledge.documents import make_text_pdf

data = make_text_pdf([["Holidays", "", "Employees receive twenty five days of paid vacation."]])
blocks = extract(data, detect_type(data, name="a.pdf"), name="a.pdf").blocks
embedder = LocalEmbedder()
vectors = embedder.embed_documents([b.text for b in blocks])
embedder.embed_query("how many holidays?")
print("PROBE " + json.dumps({
    "torch": "torch" in sys.modules,
    "runner": embedder.runner_name,
    "rows": len(vectors),
}))
"""


def test_a_worker_embedding_with_onnx_never_imports_pytorch(built_model):
    """A fresh process extracts a PDF (unstructured, spaCy) and embeds: no torch module."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        KNOWLEDGE_LOCAL_EMBEDDER="onnx",
        KNOWLEDGE_LOCAL_EMBEDDER_ONNX=str(built_model),
    )
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    report = json.loads(lines[-1][len("PROBE ") :])
    assert report == {"torch": False, "runner": "onnx-int8", "rows": report["rows"]}
    assert report["rows"] > 0
