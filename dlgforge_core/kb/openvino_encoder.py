"""The BERT encoder layers of :class:`~dlgforge_core.kb.bert_encoder.BertEncoder` compiled by
OpenVINO for the CPU: the default runtime where the ``openvino`` package is installed.

The graph is the one ``onnx_encoder`` builds in memory from the model folder's weights (no
torch, no export step, nothing on disk), read by OpenVINO's ONNX front end and compiled once
per process. One ``infer`` call runs every encoder layer with the GIL released. Token
embeddings, their LayerNorm and pooling stay NumPy's (``BertEncoder``).

Precision (``retrieval.embeddings.precision``): ``fp32`` gives the ONNX Runtime vectors to
1e-6; ``auto`` lets OpenVINO run the matrix products in bfloat16 on CPUs that compute it
natively (AMX or AVX-512 BF16; float32 accumulation, float32 elsewhere), which matches the
float32 vectors to a cosine of 0.99998 for about a third of the CPU per query (measured in
``benchmarks/kb_eval.py --runtimes``: retrieval metrics unchanged). One inference thread:
queries are embedded in small batches on a dedicated thread, where a thread pool costs more
CPU than it saves on a busy machine.

The compiled model is kept under ``~/.cache/dlgforge/openvino`` (``$XDG_CACHE_HOME``), keyed by
the model files, the precision, the OpenVINO version and the CPU's features: a later process
imports it in about 0.1 s instead of building and compiling the graph (0.6 s of a run's start).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
from pathlib import Path

import numpy as np

from dlgforge_core.cpu import cpu_flags
from dlgforge_core.kb.bert_encoder import BertEncoder
from dlgforge_core.store.atomic import write_bytes_atomic
from dlgforge_core.kb.onnx_encoder import _graph, _return_freed_memory


# Part of the compiled-model cache key: raise it when ``onnx_encoder._graph`` changes the graph.
_GRAPH_VERSION = "1"


def available() -> bool:
    """Whether OpenVINO is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _import_openvino():
    """``openvino``, with its usage analytics off in this process.

    Importing ``openvino`` starts the ``openvino_telemetry`` client of its model converter,
    which keeps an id and counters under ``~/intel`` and reports model reads to an analytics
    service unless the user opted out. dlgforge sends nothing anywhere: an entry of None in
    ``sys.modules`` makes that import fail, and OpenVINO then uses its built-in no-op stub.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino


def _blob_path(model_dir: Path, precision: str, version: str) -> Path | None:
    """Where the compiled model of this folder, precision, OpenVINO build and CPU is kept:
    ``$XDG_CACHE_HOME/dlgforge/openvino`` (default ``~/.cache``); None without a home."""
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory to expand
        return None
    key = hashlib.sha256()
    for part in (_GRAPH_VERSION, version, precision, cpu_flags()):
        key.update(part.encode() + b"\0")
    for name in ("config.json", "model.safetensors"):
        try:
            stat = (model_dir / name).stat()
        except OSError:
            return None
        key.update(f"{(model_dir / name).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode() + b"\0")
    return root / "dlgforge" / "openvino" / f"{key.hexdigest()[:32]}.blob"


def _import_blob(core, blob: Path | None, options: dict):
    """The compiled model kept at ``blob`` (about 0.1 s instead of 0.6 s to build and compile
    it), or None when there is none or it cannot be read (it is then compiled again)."""
    if blob is None or not blob.is_file():
        return None
    try:
        return core.import_model(io.BytesIO(blob.read_bytes()), "CPU", options)
    except Exception:  # noqa: BLE001 - stale or damaged: compile and write it anew
        return None


def _export_blob(compiled, blob: Path | None) -> None:
    """Keep the compiled model at ``blob`` for the next process (written whole, then renamed,
    so a reader never sees half a file); a cache that cannot be written is skipped."""
    if blob is None:
        return
    try:
        write_bytes_atomic(blob, compiled.export_model().getvalue(), fsync=False)
    except Exception:  # noqa: BLE001 - no cache this time; the compiled model still serves
        pass


class OpenVinoBertEncoder(BertEncoder):
    """``BertEncoder`` whose encoder layers run as one compiled OpenVINO model."""

    def __init__(self, model_dir: str | Path, precision: str = "auto") -> None:
        ov = _import_openvino()
        super().__init__(model_dir)
        options = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        if precision == "fp32":
            options["INFERENCE_PRECISION_HINT"] = "f32"
        core = ov.Core()
        blob = _blob_path(Path(model_dir), precision, ov.get_version())
        self.compiled = _import_blob(core, blob, options)
        if self.compiled is None:
            model_bytes, _ = _graph(self.layers, self.heads, self.hidden, self.eps, inline=True)
            model = core.read_model(model_bytes)
            del model_bytes
            self.compiled = core.compile_model(model, "CPU", options)
            del model
            _export_blob(self.compiled, blob)
        self.layers = []  # the compiled model holds the encoder's weights now
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._requests = threading.local()  # an infer request serves one thread at a time
        _return_freed_memory()

    def _forward(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        x, bias = self._embedded(ids, types, mask)
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        request.infer({"hidden": x.reshape(batch, length, self.hidden),
                       "bias": np.ascontiguousarray(bias, dtype=np.float32)})
        return np.array(request.get_output_tensor(0).data, copy=True)
