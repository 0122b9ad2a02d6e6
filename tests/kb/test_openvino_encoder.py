"""The OpenVINO encoder: the default runtime (``auto``); float32 gives the NumPy encoder's
vectors, ``precision: auto`` stays within a cosine of 0.9999; nothing is reported anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dlgforge_core.config.sections import EmbeddingsConfig
from dlgforge_core.errors import KBError
from dlgforge_core.kb import openvino_encoder
from dlgforge_core.kb.bert_encoder import BertEncoder
from dlgforge_core.kb.embeddings import BertEncoderEmbedder, default_model_path, make_embedder
from dlgforge_core.kb.openvino_encoder import OpenVinoBertEncoder
from tests.kb.test_bert_encoder import TEXTS

REPO = Path(__file__).resolve().parents[2]
MODEL = default_model_path()


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return BertEncoder(MODEL).encode(TEXTS, batch_size=8)


def test_fp32_vectors_equal_numpy_vectors(reference):
    encoder = OpenVinoBertEncoder(MODEL, precision="fp32")
    got = encoder.encode(TEXTS, batch_size=8)
    assert encoder.precision == "f32" and encoder.layers == []
    assert got.shape == reference.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference, atol=2e-5)
    np.testing.assert_allclose(encoder.encode([TEXTS[3]])[0], got[3], atol=2e-5)  # no padding


def test_auto_precision_stays_within_a_cosine_of_0_9999(reference):
    encoder = OpenVinoBertEncoder(MODEL)
    assert encoder.precision in ("bf16", "f32")  # bf16 where the CPU computes it natively
    got = encoder.encode(TEXTS, batch_size=8)
    unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosine = (got / np.linalg.norm(got, axis=1, keepdims=True) * unit).sum(axis=1)
    assert cosine.min() > 0.9999, cosine


def test_auto_runtime_picks_openvino_and_explicit_needs_it(monkeypatch):
    auto = make_embedder(EmbeddingsConfig(), Path("."))
    assert isinstance(auto, BertEncoderEmbedder) and auto.runtime == "openvino"
    assert isinstance(auto.model, OpenVinoBertEncoder)
    exact = make_embedder(EmbeddingsConfig(precision="fp32"), Path("."))
    assert exact.model is not auto.model and exact.model.precision == "f32"
    assert auto.identity == exact.identity  # the same index either way
    monkeypatch.setattr(openvino_encoder, "available", lambda: False)
    with pytest.raises(KBError, match=r"retrieval\.embeddings\.runtime: openvino needs the openvino package"):
        make_embedder(EmbeddingsConfig(runtime="openvino"), Path("."))


def test_openvino_sends_and_writes_nothing_and_loads_no_torch(tmp_path):
    """Importing openvino starts its converter's usage analytics (an id and counters under
    ~/intel, reports of model reads); the encoder keeps that client from loading."""
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from dlgforge_core.config.sections import EmbeddingsConfig
        from dlgforge_core.kb.embeddings import make_embedder
        embedder = make_embedder(EmbeddingsConfig(), Path("."))
        vectors = embedder.encode(["how do I escalate an incident?"] * 3)
        assert vectors.shape == (3, 384), vectors.shape
        heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        print(type(embedder.model).__name__, sys.modules.get("openvino_telemetry"), heavy)
    """)
    env = {**os.environ, "HOME": str(tmp_path), "CI": "", "HF_HUB_OFFLINE": "1"}
    env.pop("XDG_CACHE_HOME", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["OpenVinoBertEncoder", "None", "[]"], done.stdout
    assert not (tmp_path / "intel").exists()  # no analytics id or counters
    assert [p.name for p in tmp_path.iterdir()] == [".cache"]  # only the compiled model's cache
    assert [p.name for p in (tmp_path / ".cache").iterdir()] == ["dlgforge"]
    assert "fork" not in done.stderr


def test_compiled_model_is_kept_and_a_damaged_one_recompiled(tmp_path, monkeypatch, reference):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = OpenVinoBertEncoder(MODEL, precision="fp32")
    [blob] = list((tmp_path / "dlgforge" / "openvino").iterdir())
    assert blob.suffix == ".blob" and blob.stat().st_size > 1_000_000
    expected = first.encode(TEXTS, batch_size=8)
    again = OpenVinoBertEncoder(MODEL, precision="fp32")  # imported from the blob
    np.testing.assert_array_equal(again.encode(TEXTS, batch_size=8), expected)
    other = OpenVinoBertEncoder(MODEL)  # another precision: a blob of its own
    assert len(list(blob.parent.iterdir())) == 2 and other.precision in ("bf16", "f32")
    blob.write_bytes(b"not a compiled model")
    repaired = OpenVinoBertEncoder(MODEL, precision="fp32")
    np.testing.assert_allclose(repaired.encode(TEXTS, batch_size=8), reference, atol=2e-5)
    assert blob.stat().st_size > 1_000_000  # written anew


def test_memory_stays_flat_over_batches_of_every_shape(tmp_path):
    # every new (batch, length) shape makes OpenVINO and its oneDNN kernels keep what they
    # prepared; unbounded, the process grew ~140 MB per 220 differently shaped batches
    script = textwrap.dedent("""
        import random
        import resource
        import sys

        from dlgforge_core.kb.embeddings import default_model_path
        from dlgforge_core.kb.openvino_encoder import OpenVinoBertEncoder

        def rss_mb():  # the peak resident size so far (KB on Linux, bytes on macOS)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)

        encoder = OpenVinoBertEncoder(default_model_path())
        words = "the quick brown fox jumps over a lazy dog while riders ask about fees".split()
        rng, seen = random.Random(0), []
        for round_ in range(2):  # the second round's shapes are all new ones
            for size in range(1 + round_, 65, 3):
                for length in range(3 + 2 * round_, 40, 4):
                    encoder.encode([f"q{round_} {i} " + " ".join(rng.choice(words) for _ in range(length))
                                    for i in range(size)])
            seen.append(rss_mb())
        print(seen[1] - seen[0])
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ONEDNN_PRIMITIVE_CACHE_CAPACITY", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    growth = float(out.stdout.strip().splitlines()[-1])
    assert growth < 40, f"resident memory grew {growth:.0f} MB over a second round of new shapes"


def test_kept_compiled_models_are_pruned_when_one_is_written(tmp_path, monkeypatch):
    # unused for a month, or beyond the four most recently used, or a write killed a day ago
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "dlgforge" / "openvino"
    cache.mkdir(parents=True)
    now = time.time()
    ages = {"stale.blob": 31, "recent1.blob": 1, "recent2.blob": 2, "recent3.blob": 3,
            "recent4.blob": 4, "notes.txt": 60, ".x.blob.killed.tmp": 2, ".y.blob.live.tmp": 0}
    for name, days in ages.items():
        (cache / name).write_bytes(b"x")
        os.utime(cache / name, (now - days * 86400 - 60,) * 2)
    OpenVinoBertEncoder(MODEL, precision="fp32")  # compiles and keeps a new blob
    [kept] = [p for p in cache.glob("*.blob") if not p.name.startswith(("stale", "recent"))]
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [kept.name, "recent1.blob", "recent2.blob", "recent3.blob", "notes.txt", ".y.blob.live.tmp"])
    # importing a kept model marks it used (the same file, not a new one)
    month_ago = now - 31 * 86400
    os.utime(kept, (month_ago, month_ago))
    inode = kept.stat().st_ino
    OpenVinoBertEncoder(MODEL, precision="fp32")
    assert kept.stat().st_mtime > month_ago + 86400 and kept.stat().st_ino == inode
