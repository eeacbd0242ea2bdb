"""Keep third-party libraries from reaching the network: no downloads, no telemetry.

As shipped, ``unstructured``:
- pings its telemetry endpoint when imported and on every partition call, unless
  ``DO_NOT_TRACK`` / ``SCARF_NO_ANALYTICS`` are set;
- downloads and *installs into site-packages* the spaCy model ``en_core_web_sm`` the first time
  it classifies text (``unstructured.nlp.tokenize._get_nlp``).

``prepare_unstructured()`` sets the opt-outs and replaces that model loader: an installed
``en_core_web_sm`` is used when an operator has added it (better title/narrative
classification), otherwise a small rule-based English pipeline (tokenizer, sentencizer and a
verb tagger from a word list) gives unstructured what its heuristics read: sentences and verb
tags. Nothing is ever downloaded. Hugging Face libraries get ``HF_HUB_OFFLINE`` as well, and
LiteLLM ``LITELLM_LOCAL_MODEL_COST_MAP`` (its bundled price list instead of a download).

Call ``prepare_unstructured()`` before the first import of ``unstructured``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

OFFLINE_ENVIRONMENT = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # LiteLLM otherwise downloads its model price list when imported.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}

SPACY_MODEL = "en_core_web_sm"
_lock = threading.Lock()
_prepared = False


def apply_offline_environment() -> None:
    """Opt out of telemetry and hub look-ups in this process (and the processes it starts)."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ[name] = value


def prepare_unstructured() -> None:
    global _prepared
    if _prepared:
        return
    with _lock:
        if _prepared:
            return
        apply_offline_environment()
        with _torch_hidden():
            import unstructured.nlp.tokenize as tokenize

        tokenize._get_nlp = _get_nlp  # type: ignore[assignment]
        _prepared = True


@contextlib.contextmanager
def _torch_hidden() -> Iterator[None]:
    """Importing spaCy imports thinc, which imports PyTorch whenever it is installed (it is:
    sentence-transformers, the embedder's fallback, needs it), although the pipelines used
    here never run on it: ~0.3 GB resident per worker for nothing. While spaCy loads, an
    ``import torch`` fails, so thinc records that PyTorch is absent. A process that already
    has PyTorch loaded keeps it."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


_nlp: Any = None


def _get_nlp() -> Any:
    """unstructured's spaCy pipeline, without its download-and-install fallback."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                _nlp = load_pipeline()
    return _nlp


def load_pipeline() -> Any:
    import spacy

    if spacy.util.is_package(SPACY_MODEL):
        return spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer", "attribute_ruler"])
    return rule_based_pipeline()


def rule_based_pipeline() -> Any:
    import spacy
    from spacy.language import Language

    if not Language.has_factory("aichat_verb_tagger"):

        @Language.component("aichat_verb_tagger")
        def verb_tagger(doc: Any) -> Any:
            for token in doc:
                if looks_like_verb(token.lower_):
                    token.tag_ = "VB"
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("aichat_verb_tagger")
    return nlp


# Frequent English verbs (base forms); inflections are derived below. unstructured only asks
# "does this short text contain a verb?" to tell narrative text from titles and labels.
_VERB_WORDS = """
be is am are was were been being have has had having do does did done doing can could may
might must shall should will would need let make made get got give gave go went gone come came
take took taken see saw seen know knew known think thought say said tell told use find found
want look ask work seem feel try leave left call keep kept provide hold held turn follow begin
began show shown hear heard play run ran move live believe bring brought happen write wrote
written sit sat stand stood lose lost pay paid meet met include continue set learn change lead
led understand understood watch stop create speak spoke spoken read allow add spend spent grow
grew open walk win won offer remember love consider appear buy bought wait serve die send sent
expect build built stay fall fell cut reach kill remain suggest raise pass sell sold require
report decide pull return explain hope develop carry break broke receive agree support hit
produce eat ate cover catch caught draw drew choose chose cause point listen enable install
configure click select enter press contact check update delete remove save store sign log run
click apply submit return returns contain contains mean means describe define refer note
"""
_VERB_SET = frozenset(_VERB_WORDS.split())
_VERB_SUFFIX_RE = re.compile(r"^[a-z]{3,}(?:ed|ing)$")


def looks_like_verb(word: str) -> bool:
    if word in _VERB_SET:
        return True
    if _VERB_SUFFIX_RE.match(word):
        return True
    # Third person singular of a known verb: "returns", "applies", "watches".
    if word.endswith("ies") and (word[:-3] + "y") in _VERB_SET:
        return True
    if word.endswith("es") and word[:-2] in _VERB_SET:
        return True
    return word.endswith("s") and word[:-1] in _VERB_SET
