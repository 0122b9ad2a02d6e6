"""The NumPy BERT encoder against sentence-transformers on the packaged MiniLM (offline)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from dlgforge_core.config.sections import EmbeddingsConfig
from dlgforge_core.errors import KBError
from dlgforge_core.kb import bert_encoder, embeddings
from dlgforge_core.kb.bert_encoder import BertEncoder, supports
from dlgforge_core.kb.embeddings import (BertEncoderEmbedder, SentenceTransformerEmbedder,
                                         default_model_path, make_embedder)

REPO = Path(__file__).resolve().parents[2]
MODEL = default_model_path()

PARAGRAPH = (
    "The support desk answers tickets from 08:00 to 18:00 Central European Time on working "
    "days. Weekend coverage is only available on the Enterprise plan, and an incident of "
    "priority P1 is escalated by calling the on-call duty phone at extension 4477 after the "
    "ticket has been opened. The duty engineer acknowledges within fifteen minutes and posts "
    "updates to the status page every thirty minutes until the incident is resolved.")
LONG_TEXTS = [
    "\n\n".join([PARAGRAPH] * 4),
    "\n\n".join(f"Section {i}. " + PARAGRAPH.replace("support", f"team-{i}") for i in range(5)),
    " ".join(f"item{i} costs {i * 3.75:.2f} EUR, ref #{i:05d};" for i in range(120)),
]
SHORT_TEXTS = [
    "", "a", "hello world", "How do I reset my password?", "What does error E4012 mean?",
    "refund policy for annual plans", "  leading and trailing spaces  ", "UPPER CASE QUERY",
    "Café crème brûlée, déjà vu à l'hôtel", "naïve façade coöperate Ångström",
    "Le chat dort sur le canapé pendant que la pluie tombe doucement sur Paris.",
    "Der schnelle braune Fuchs springt über den faulen Hund, während es in München regnet.",
    "¿Dónde está la estación de tren más cercana?", "東京の天気はどうですか", "Привет, как дела?",
    "emoji 🙂🚀 and symbols ©®™ ≤ ≥ ≠", "3.14159 2.71828 1e-9 -42 +7 0x1F 1,000,000",
    "Call +41 44 668 18 00 or mail support@example.com before 2024-03-31T23:59:59Z",
    "def add(a: int, b: int) -> int:\n    return a + b  # sum",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    "for (let i = 0; i < n; i++) { total += prices[i] * qty[i]; }",
    "curl -X POST https://api.example.com/v1/tickets -H 'Authorization: Bearer $TOKEN'",
    "tabs\tand\nnewlines\r\nmixed", "repeated repeated repeated repeated repeated repeated",
    "How long does the duty engineer take to acknowledge a P1 incident?",
    "Is weekend support included in the Starter plan or only in Enterprise?",
    "New team members receive a welcome kit with a hardware security key on their first day.",
    "Rate limits: 100 requests per minute per API key; bursts up to 20 are tolerated.",
    "Invoices are issued on the first business day of each month and are payable in 30 days.",
    "The backup job runs nightly at 02:00 UTC and keeps 35 daily snapshots.",
    "Passwords must be at least 12 characters and are rotated every 180 days.",
    "A very short one.", "Why?", "ok", "!!!", "x" * 300,
    "[CLS] [SEP] [PAD] [MASK] <b>tags</b>",
]
TEXTS = SHORT_TEXTS + LONG_TEXTS

TOPICS = [
    ("billing", "Invoices are sent monthly; annual plans are billed up front with a 15% discount."),
    ("refunds", "Refunds are issued within 14 days of purchase to the original payment method."),
    ("passwords", "Reset a forgotten password from the login page with the emailed one-time link."),
    ("2fa", "Two-factor authentication uses an authenticator app or a hardware security key."),
    ("api limits", "The public API allows 100 requests per minute per key before throttling."),
    ("api keys", "API keys are created in the developer console and can be revoked at any time."),
    ("support hours", "The help desk is staffed from 8 am to 6 pm on weekdays."),
    ("escalation", "Critical outages are escalated to the on-call engineer by phone."),
    ("backups", "Databases are backed up every night and snapshots are kept for five weeks."),
    ("restore", "Restoring a snapshot takes about twenty minutes for a 50 GB database."),
    ("onboarding", "New hires get a laptop, a badge and a mentor during their first week."),
    ("vacation", "Employees have 25 days of paid vacation and may carry over five days."),
    ("expenses", "Travel expenses are reimbursed after uploading receipts to the finance portal."),
    ("security training", "Everyone completes privacy and phishing training within two weeks."),
    ("vpn", "Remote access to internal systems requires the company VPN client."),
    ("printer", "The office printer on floor 3 supports duplex and colour printing."),
    ("parking", "Visitor parking spots are next to the main entrance and free for two hours."),
    ("cafeteria", "The cafeteria serves vegetarian lunch options every day from noon."),
    ("shipping", "Orders ship within two business days; express delivery costs extra."),
    ("returns", "Unused items can be returned within 30 days in their original packaging."),
    ("warranty", "Hardware products carry a two-year warranty against manufacturing defects."),
    ("data export", "Customers can export all their data as CSV or JSON from account settings."),
    ("gdpr", "Personal data is deleted within 30 days after an account is closed."),
    ("uptime", "The service level agreement guarantees 99.9% monthly availability."),
    ("status page", "Incidents and maintenance windows are announced on the public status page."),
    ("python sdk", "Install the Python SDK with pip and authenticate with your API key."),
    ("webhooks", "Webhooks deliver events as signed JSON POST requests with retries."),
    ("pricing", "The Starter plan costs 10 dollars per user per month; Enterprise is custom."),
    ("french", "Le service client répond en français du lundi au vendredi."),
    ("german", "Die Rechnung wird am ersten Werktag jedes Monats per E-Mail verschickt."),
]
CHUNKS = [f"{title.title()}. {body}" for title, body in TOPICS]
QUERIES = [
    "how much does the starter plan cost", "I forgot my password", "when are invoices sent",
    "how many API calls per minute", "is there a discount for yearly billing",
    "who do I call during a major outage", "how long are backups kept",
    "can I get my money back", "Wann kommt die Rechnung?", "service client en français",
]


@pytest.fixture(scope="module")
def encoder() -> BertEncoder:
    return BertEncoder(MODEL)


@pytest.fixture(scope="module")
def st_model():
    """sentence-transformers' own model of the same folder (shared with the other KB tests)."""
    return SentenceTransformerEmbedder(EmbeddingsConfig(), base_dir=Path(".")).model


def st_encode(model, texts: list[str], normalize: bool = True) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=16, convert_to_numpy=True,
                                   normalize_embeddings=normalize, show_progress_bar=False))


def test_the_packaged_model_is_supported():
    assert supports(MODEL)


def test_long_texts_are_truncated_to_max_seq_length(encoder):
    assert encoder.max_length == 256
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    raw.no_truncation()
    assert all(len(raw.encode(text).ids) > 256 for text in LONG_TEXTS)
    assert all(len(encoder.tokenizer.encode(text).ids) == 256 for text in LONG_TEXTS)


def test_numpy_vectors_match_sentence_transformers(encoder, st_model):
    ours = encoder.encode(TEXTS, batch_size=8)
    theirs = st_encode(st_model, TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-4
    cosines = (ours * theirs).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosines.min() >= 0.99999


def test_nearest_neighbour_order_is_the_same(encoder, st_model):
    def ranking(queries: np.ndarray, chunks: np.ndarray) -> np.ndarray:
        return np.argsort(-(queries @ chunks.T), axis=1, kind="stable")

    ours = ranking(encoder.encode(QUERIES), encoder.encode(CHUNKS))
    theirs = ranking(st_encode(st_model, QUERIES), st_encode(st_model, CHUNKS))
    assert ours.shape == (10, 30)
    assert (ours == theirs).all()


def test_batched_and_one_by_one_encoding_agree(encoder):
    batched = encoder.encode(TEXTS, batch_size=64)
    single = np.vstack([encoder.encode([text], batch_size=1) for text in TEXTS])
    assert np.abs(batched - single).max() < 1e-5


def test_concurrent_encodes_from_threads_agree(encoder):
    expected = encoder.encode(SHORT_TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(encoder.encode(SHORT_TEXTS))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 12
    assert all(np.abs(result - expected).max() < 1e-5 for result in results)


def test_gelu_matches_the_erf_definition():
    x = np.linspace(-9, 9, 20001, dtype=np.float32)
    reference = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    got = bert_encoder._gelu(x.reshape(-1, 1).copy()).ravel()
    assert np.abs(got - reference).max() < 2e-6
    assert np.abs(got - reference)[np.abs(x) < 1].max() < 2e-7


def _model_copy(tmp_path: Path, name: str = "model") -> Path:
    """The packaged model's files linked into a writable folder (no copy of the weights)."""
    folder = tmp_path / name
    (folder / "1_Pooling").mkdir(parents=True)
    for item in MODEL.rglob("*"):
        if item.is_file():
            (folder / item.relative_to(MODEL)).symlink_to(item)
    return folder


def _rewrite(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    path.unlink()
    path.write_text(json.dumps({**data, **changes}))


@pytest.mark.parametrize("pooling, normalize", [
    ({"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}, True),
    ({"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}, False),
    ({"pooling_mode_mean_sqrt_len_tokens": True, "pooling_mode_cls_token": True}, False),
])
def test_other_pooling_modes_match_sentence_transformers(tmp_path, pooling, normalize):
    from sentence_transformers import SentenceTransformer

    folder = _model_copy(tmp_path)
    _rewrite(folder / "1_Pooling" / "config.json", **pooling)
    if not normalize:
        modules = json.loads((folder / "modules.json").read_text())
        (folder / "modules.json").unlink()
        (folder / "modules.json").write_text(json.dumps(modules[:2]))
    assert supports(folder)
    ours = BertEncoder(folder)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    theirs = st_encode(model, SHORT_TEXTS[:12] + LONG_TEXTS[:1], normalize=False)
    got = ours.encode(SHORT_TEXTS[:12] + LONG_TEXTS[:1])
    assert got.shape == theirs.shape == (13, ours.dimension())
    assert np.abs(got - theirs).max() < 1e-4 * max(1.0, float(np.abs(theirs).max()))


def test_prefixed_float64_weights_load_through_safetensors(tmp_path, encoder):
    from safetensors.numpy import load_file, save_file

    folder = _model_copy(tmp_path)
    (folder / "model.safetensors").unlink()
    tensors = load_file(str(MODEL / "model.safetensors"))
    save_file({f"bert.{key}": value.astype(np.float64) if value.dtype == np.float32 else value
               for key, value in tensors.items()}, str(folder / "model.safetensors"))
    assert supports(folder)
    texts = SHORT_TEXTS[:10] + LONG_TEXTS[:1]
    assert np.abs(BertEncoder(folder).encode(texts) - encoder.encode(texts)).max() < 1e-6


def test_unsupported_folders_are_refused(tmp_path):
    no_tokenizer = _model_copy(tmp_path, "no_tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    assert not supports(no_tokenizer)
    dense = _model_copy(tmp_path, "dense")
    modules = json.loads((dense / "modules.json").read_text())
    (dense / "modules.json").unlink()
    (dense / "modules.json").write_text(json.dumps(modules[:2] + [
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    assert not supports(dense)
    weighted = _model_copy(tmp_path, "weighted")
    _rewrite(weighted / "1_Pooling" / "config.json", pooling_mode_weightedmean_tokens=True)
    assert not supports(weighted)
    assert not supports(tmp_path / "missing")


def test_make_embedder_picks_numpy_for_the_default_model():
    settings = EmbeddingsConfig(batch_size=7)
    embedder = make_embedder(settings, Path("."))
    assert isinstance(embedder, BertEncoderEmbedder) and embedder.batch_size == 7
    assert embedder.identity == SentenceTransformerEmbedder(settings, Path(".")).identity \
        == "sentence_transformers:all-MiniLM-L6-v2"
    assert embedder.dimension() == 384
    vectors = embedder.encode(["hello world", "Bonjour le monde"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.model is make_embedder(settings, Path(".")).model  # loaded once


def test_make_embedder_keeps_sentence_transformers_otherwise(tmp_path):
    local = _model_copy(tmp_path, "local_bert")
    embedder = make_embedder(EmbeddingsConfig(model=str(local)), tmp_path)
    assert isinstance(embedder, BertEncoderEmbedder)
    assert embedder.identity == f"sentence_transformers:{local.resolve()}"
    other = _model_copy(tmp_path, "not_bert")
    _rewrite(other / "config.json", model_type="distilbert")
    for settings in (EmbeddingsConfig(model=str(other)),
                     EmbeddingsConfig(model=str(local), device="cuda"),
                     EmbeddingsConfig(model=str(local), trust_remote_code=True),
                     EmbeddingsConfig(model="someone/remote-model")):
        embedder = make_embedder(settings, tmp_path)
        assert type(embedder) is SentenceTransformerEmbedder, settings


def test_runtime_setting_forces_torch_or_numpy(tmp_path):
    torch_path = make_embedder(EmbeddingsConfig(runtime="torch"), Path("."))
    assert type(torch_path) is SentenceTransformerEmbedder
    assert torch_path.identity == make_embedder(EmbeddingsConfig(), Path(".")).identity
    assert isinstance(make_embedder(EmbeddingsConfig(runtime="numpy"), Path(".")), BertEncoderEmbedder)
    other = _model_copy(tmp_path, "not_bert_numpy")
    _rewrite(other / "config.json", model_type="distilbert")
    with pytest.raises(KBError, match=r"retrieval\.embeddings\.runtime: numpy cannot run"):
        make_embedder(EmbeddingsConfig(model=str(other), runtime="numpy"), tmp_path)


def test_device_auto_uses_numpy_only_without_a_gpu(monkeypatch):
    monkeypatch.setattr(embeddings, "_gpu_present", lambda: False)
    assert isinstance(make_embedder(EmbeddingsConfig(device="auto"), Path(".")),
                      BertEncoderEmbedder)
    monkeypatch.setattr(embeddings, "_gpu_present", lambda: True)
    assert type(make_embedder(EmbeddingsConfig(device="auto"), Path("."))) is \
        SentenceTransformerEmbedder


def test_numpy_path_never_imports_torch(tmp_path):
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        import dlgforge_core.kb
        from dlgforge_core.config.sections import EmbeddingsConfig
        from dlgforge_core.kb.embeddings import make_embedder
        embedder = make_embedder(EmbeddingsConfig(), Path("."))
        vectors = embedder.encode(["how do I escalate an incident?"] * 3)
        assert vectors.shape == (3, 384), vectors.shape
        heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        print(type(embedder).__name__, heavy)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["BertEncoderEmbedder", "[]"], done.stdout
