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
Writing one removes the kept models no process imported for 30 days, and all but the four
most recently used (``_prune_unused``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from dlgforge_core.cpu import cpu_flags
from dlgforge_core.kb.bert_encoder import BertEncoder
from dlgforge_core.store.atomic import write_bytes_atomic
from dlgforge_core.user_cache import user_cache_dir
from dlgforge_core.kb.onnx_encoder import _graph, _return_freed_memory


# Part of the compiled-model cache key: raise it when ``onnx_encoder._graph`` changes the graph.
_GRAPH_VERSION = "1"

# Every new input shape (batch size x padded length) makes OpenVINO prepare the layers for it
# and its oneDNN library JIT-compile kernels, and both keep what they made: by default up to
# 5,000 shapes and 1,024 kernels, hundreds of MB in a long run whose query batches come in
# every size (a process grew from 282 MB to 878 MB over 660 differently shaped batches, and
# kept growing). Bounded here, the same batches level off at 370 MB (530 MB with only the
# shape cache bounded), and `benchmarks/memory.py` peaks at 404-411 MB instead of 424-435 MB
# with 256 kernels. The price is kernels compiled again when batch sizes vary most: 256 x
# 200 ms on 2 shards, CPU-bound, ran at 0.508 of ideal against 0.520 (256 kernels) and 0.538
# (1,024), one run each; 64 x 200 ms in one process did not change (0.959).
_SHAPE_CACHE = 8
_KERNEL_CACHE = 64
_UNUSED_DAYS = 30  # a kept compiled model not imported for this long is removed
_KEEP_BLOBS = 4  # at most this many kept compiled models, the most recently used


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
    # read by oneDNN when it first builds a kernel (also by this process's children and any
    # other oneDNN user in it, e.g. torch); a user's own setting wins
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(_KERNEL_CACHE))
    import openvino

    return openvino


def _blob_path(model_dir: Path, precision: str, version: str) -> Path | None:
    """Where the compiled model of this folder, precision, OpenVINO build and CPU is kept:
    ``$XDG_CACHE_HOME/dlgforge/openvino`` (default ``~/.cache``); None without a home."""
    root = user_cache_dir("openvino")
    if root is None:
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
    return root / f"{key.hexdigest()[:32]}.blob"


def _import_blob(core, blob: Path | None, options: dict):
    """The compiled model kept at ``blob`` (about 0.1 s instead of 0.6 s to build and compile
    it), or None when there is none or it cannot be read (it is then compiled again)."""
    if blob is None or not blob.is_file():
        return None
    try:
        compiled = core.import_model(io.BytesIO(blob.read_bytes()), "CPU", options)
    except Exception:  # noqa: BLE001 - stale or damaged: compile and write it anew
        return None
    with contextlib.suppress(OSError):
        os.utime(blob)  # in use: kept by _prune_unused
    return compiled


def _export_blob(compiled, blob: Path | None) -> None:
    """Keep the compiled model at ``blob`` for the next process (written whole, then renamed,
    so a reader never sees half a file); a cache that cannot be written is skipped."""
    if blob is None:
        return
    try:
        write_bytes_atomic(blob, compiled.export_model().getvalue(), fsync=False)
    except Exception:  # noqa: BLE001 - no cache this time; the compiled model still serves
        return
    _prune_unused(blob)


def _prune_unused(kept: Path) -> None:
    """Remove the compiled models beside ``kept`` that no process imported for
    ``_UNUSED_DAYS``, and all but the ``_KEEP_BLOBS`` most recently used: each reinstall of
    the model package or of OpenVINO (a new key) adds one of ~43 MB, and nothing else would
    ever remove the old ones. Temp files of writes killed over a day ago go too."""
    now = time.time()
    used: list[tuple[float, Path]] = []
    for old in kept.parent.glob("*.blob"):
        with contextlib.suppress(OSError):
            if old != kept:
                used.append((old.stat().st_mtime, old))
    used.sort(reverse=True)
    for rank, (mtime, old) in enumerate(used, start=1):
        if rank >= _KEEP_BLOBS or mtime < now - _UNUSED_DAYS * 86400:
            with contextlib.suppress(OSError):
                old.unlink()
    for temp in kept.parent.glob(".*.blob.*.tmp"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime < now - 86400:
                temp.unlink()


class OpenVinoBertEncoder(BertEncoder):
    """``BertEncoder`` whose encoder layers run as one compiled OpenVINO model."""

    def __init__(self, model_dir: str | Path, precision: str = "auto") -> None:
        ov = _import_openvino()
        super().__init__(model_dir)
        options = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                   "CPU_RUNTIME_CACHE_CAPACITY": _SHAPE_CACHE}
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
