"""The ONNX Runtime encoder: the NumPy encoder's vectors, picked by ``runtime: auto`` where
OpenVINO is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlgforge_core.config.sections import EmbeddingsConfig
from dlgforge_core.errors import KBError
from dlgforge_core.kb import embeddings, onnx_encoder, openvino_encoder
from dlgforge_core.kb.bert_encoder import BertEncoder
from dlgforge_core.kb.embeddings import BertEncoderEmbedder, default_model_path, make_embedder
from dlgforge_core.kb.onnx_encoder import OnnxBertEncoder
from tests.kb.test_bert_encoder import TEXTS

REPO = Path(__file__).resolve().parents[2]
MODEL = default_model_path()


@pytest.fixture(scope="module")
def encoders() -> tuple[BertEncoder, OnnxBertEncoder]:
    return BertEncoder(MODEL), OnnxBertEncoder(MODEL)


def test_onnx_vectors_equal_numpy_vectors(encoders):
    numpy_encoder, onnx = encoders
    expected = numpy_encoder.encode(TEXTS, batch_size=8)
    got = onnx.encode(TEXTS, batch_size=8)
    assert got.shape == expected.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # one text alone (no padding) and inside a padded batch give the same vector
    np.testing.assert_allclose(onnx.encode([TEXTS[3]])[0], got[3], atol=2e-5)


def test_onnx_encoder_holds_no_numpy_layer_copies(encoders):
    _, onnx = encoders
    assert onnx.layers == []  # the session holds the weights once


def test_auto_picks_onnx_without_openvino_numpy_stays_numpy(monkeypatch):
    monkeypatch.setattr(openvino_encoder, "available", lambda: False)
    auto = make_embedder(EmbeddingsConfig(), Path("."))
    assert isinstance(auto, BertEncoderEmbedder) and auto.runtime == "onnx"
    assert isinstance(auto.model, OnnxBertEncoder)
    assert make_embedder(EmbeddingsConfig(runtime="onnx"), Path(".")).runtime == "onnx"
    numpy_embedder = make_embedder(EmbeddingsConfig(runtime="numpy"), Path("."))
    assert numpy_embedder.runtime == "numpy" and type(numpy_embedder.model) is BertEncoder
    assert auto.identity == numpy_embedder.identity  # indexes built either way stay valid
    np.testing.assert_allclose(auto.encode(["how do refunds work?"]),
                               numpy_embedder.encode(["how do refunds work?"]), atol=2e-5)


def test_runtime_onnx_without_onnxruntime_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(openvino_encoder, "available", lambda: False)
    monkeypatch.setattr(onnx_encoder, "available", lambda: False)
    assert make_embedder(EmbeddingsConfig(), Path(".")).runtime == "numpy"  # auto falls back
    with pytest.raises(KBError, match=r"retrieval\.embeddings\.runtime: onnx needs the onnxruntime package"):
        make_embedder(EmbeddingsConfig(runtime="onnx"), Path("."))
    monkeypatch.setattr(embeddings, "_gpu_present", lambda: True)
    with pytest.raises(KBError, match=r"retrieval\.embeddings\.runtime: onnx cannot run"):
        make_embedder(EmbeddingsConfig(runtime="onnx", device="cuda"), Path("."))


def test_onnx_path_imports_neither_torch_nor_the_onnx_package():
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from dlgforge_core.config.sections import EmbeddingsConfig
        from dlgforge_core.kb.embeddings import make_embedder
        embedder = make_embedder(EmbeddingsConfig(runtime="onnx"), Path("."))
        vectors = embedder.encode(["how do I escalate an incident?"] * 3)
        assert vectors.shape == (3, 384), vectors.shape
        heavy = [m for m in ("torch", "transformers", "sentence_transformers", "onnx") if m in sys.modules]
        print(type(embedder.model).__name__, heavy)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["OnnxBertEncoder", "[]"], done.stdout
