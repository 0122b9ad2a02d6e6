"""A pure NumPy (float32) forward pass of a BERT sentence-transformers model.

Loads a local sentence-transformers folder (``config.json``, ``modules.json``,
``model.safetensors``, ``tokenizer.json``, the pooling config) and reproduces
Transformer -> Pooling (-> Normalize) without torch, transformers or sentence-transformers,
so a process that only embeds search queries stays small. :func:`supports` says whether a
folder is one this module can run; anything else goes through sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                 "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens"}
_POOLING_MODES = set(_POOLING_KEYS.values())
_WORD_TABLE = "embeddings.word_embeddings.weight"
# At most this many (padded) tokens per forward pass: bounds the activations a runtime keeps
# for its largest batch (OpenVINO: ~30 MB less per inferring thread than at 2,048, with the
# same CPU per query and per KB chunk measured; 512 saved ~10 MB more but cost KB chunks
# ~5 % more CPU).
_TOKEN_BUDGET = 1024
# Attention runs in blocks of query rows with rows * length * head size <= this: bounds the
# score matrices (<= ~9 MB with the token budget), and OpenBLAS keeps products this small
# on one thread (its thread pool costs more than it saves there, badly on a busy machine).
_ATTENTION_BLOCK = 1 << 18
# Eigen's float32 rational approximation of erf on [-4, 4] (max error 7e-8 in float64):
# erf(z) = z * P(z^2) / Q(z^2), coefficients from the highest power down.
_ERF_P = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02))
_ERF_Q = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
    -7.37332916720468e-03, -1.42647390514189e-02))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _modules(model_dir: Path) -> dict[str, str]:
    """``modules.json`` as {module kind (last name part): path}, in order."""
    return {entry["type"].rsplit(".", 1)[-1]: entry.get("path", "")
            for entry in _read_json(model_dir / "modules.json")}


def _pooling_modes(config: dict[str, Any]) -> list[str]:
    """Pooling modes in sentence-transformers' concatenation order (new or legacy keys)."""
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        return [mode] if isinstance(mode, str) else list(mode)
    modes = [mode for key, mode in _POOLING_KEYS.items() if config.get(key)]
    modes += [key for key, value in config.items()  # unsupported legacy modes, by key
              if key.startswith("pooling_mode_") and key not in _POOLING_KEYS and value]
    return modes or ["mean"]


def supports(model_dir: str | Path) -> bool:
    """True for a local BERT model folder made of Transformer + Pooling (+ Normalize)."""
    folder = Path(model_dir)
    try:
        config = _read_json(folder / "config.json")
        modules = _modules(folder)
        modes = _pooling_modes(_read_json(folder / modules["Pooling"] / "config.json"))
        st_path = folder / "config_sentence_transformers.json"
        st_config = _read_json(st_path) if st_path.exists() else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return (config.get("model_type") == "bert"
            and config.get("hidden_act", "gelu") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and list(modules) in (["Transformer", "Pooling"],
                                  ["Transformer", "Pooling", "Normalize"])
            and modules["Transformer"] in ("", ".")
            and set(modes) <= _POOLING_MODES
            and not st_config.get("default_prompt_name")
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file())


def _polynomial(x: np.ndarray, coefficients: tuple[np.float32, ...]) -> np.ndarray:
    result = x * coefficients[0]
    for coefficient in coefficients[1:-1]:
        result += coefficient
        result *= x
    result += coefficients[-1]
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU ``x * (1 + erf(x / sqrt 2)) / 2`` (BERT's ``hidden_act: gelu``), in place.

    Evaluated in cache-sized row blocks: the many element-wise passes stay in cache.
    """
    rows = max(1, 65536 // x.shape[-1])
    for start in range(0, x.shape[0], rows):
        block = x[start:start + rows]
        z = np.clip(block * np.float32(2 ** -0.5), -4.0, 4.0)
        z2 = z * z
        erf = _polynomial(z2, _ERF_P)
        erf *= z
        erf /= _polynomial(z2, _ERF_Q)
        erf += np.float32(1.0)
        erf *= np.float32(0.5)
        block *= erf
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis, in place (``x`` is a fresh array of the caller's)."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.square(x).mean(axis=-1, keepdims=True)
    variance += np.float32(eps)
    x /= np.sqrt(variance)
    x *= weight
    x += bias
    return x


def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = x @ weight
    out += bias
    return out


def _load_weights(path: Path) -> dict[str, np.ndarray]:
    """The float tensors of a safetensors file as float32, keys without a ``bert.`` prefix.

    A float32 file is memory-mapped (its layout: 8-byte header size, JSON header, raw
    little-endian data) and every tensor but the word-embedding table copied into memory:
    only the table rows of tokens actually seen get paged in (~45 MB less RSS for MiniLM).
    Other dtypes go through ``safetensors.numpy.load_file``.
    """
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    header.pop("__metadata__", None)
    floats = {key: entry for key, entry in header.items()
              if entry["dtype"] in ("F16", "BF16", "F32", "F64")}
    if any(entry["dtype"] != "F32" for entry in floats.values()):
        from safetensors.numpy import load_file

        return {key.removeprefix("bert."): value.astype(np.float32)
                for key, value in load_file(str(path)).items() if key in floats}
    weights = {}
    for key, entry in floats.items():
        name = key.removeprefix("bert.")
        mapped = np.memmap(path, dtype="<f4", mode="r", shape=tuple(entry["shape"]),
                           offset=8 + size + entry["data_offsets"][0])
        weights[name] = np.asarray(mapped) if name == _WORD_TABLE else np.array(mapped)
    return weights


def _layer_weights(w: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """One encoder layer's weights, removed from ``w``; linear weights as (in, out) for x @ W."""
    def take(name: str) -> np.ndarray:
        return w.pop(prefix + name)

    def linear(*names: str) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([take(n + ".weight") for n in names]).T)

    qkv = [f"attention.self.{name}" for name in ("query", "key", "value")]
    return {"qkv_w": linear(*qkv), "qkv_b": np.concatenate([take(n + ".bias") for n in qkv]),
            "out_w": linear("attention.output.dense"), "out_b": take("attention.output.dense.bias"),
            "ln1_w": take("attention.output.LayerNorm.weight"),
            "ln1_b": take("attention.output.LayerNorm.bias"),
            "mid_w": linear("intermediate.dense"), "mid_b": take("intermediate.dense.bias"),
            "down_w": linear("output.dense"), "down_b": take("output.dense.bias"),
            "ln2_w": take("output.LayerNorm.weight"), "ln2_b": take("output.LayerNorm.bias")}


class BertEncoder:
    """A BERT sentence-transformers model evaluated with NumPy; read-only once loaded."""

    def __init__(self, model_dir: str | Path) -> None:
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        config = _read_json(folder / "config.json")
        modules = _modules(folder)
        st_config_path = folder / "sentence_bert_config.json"
        st_config = _read_json(st_config_path) if st_config_path.exists() else {}
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = int(st_config.get("max_seq_length")
                              or min(int(config.get("max_position_embeddings", 512)), 512))
        self.lowercase = bool(st_config.get("do_lower_case", False))
        self.pooling = _pooling_modes(_read_json(folder / modules["Pooling"] / "config.json"))
        self.normalize = "Normalize" in modules
        # Settings are fixed here, never changed later: mutating a Tokenizer while another
        # thread encodes with it fails. encode() pads per batch itself.
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        w = _load_weights(folder / "model.safetensors")
        self.word = w.pop(_WORD_TABLE)
        self.position = w.pop("embeddings.position_embeddings.weight")
        self.token_type = w.pop("embeddings.token_type_embeddings.weight")
        self.embed_norm = (w.pop("embeddings.LayerNorm.weight"), w.pop("embeddings.LayerNorm.bias"))
        self.hidden = int(self.word.shape[1])
        self.layers = [_layer_weights(w, f"encoder.layer.{i}.")
                       for i in range(int(config["num_hidden_layers"]))]

    def dimension(self) -> int:
        """Size of the sentence embedding (hidden size times the number of pooling modes)."""
        return self.hidden * len(self.pooling)

    def encode(self, texts: list[str], batch_size: int = 64, *,
               normalize_embeddings: bool | None = None, convert_to_numpy: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (float32, ``(len(texts), dimension)``), input order.

        Texts are sorted by token count so each batch of at most ``batch_size`` texts (and
        at most ``_TOKEN_BUDGET`` padded tokens) pads only to its own longest text.
        ``normalize_embeddings`` defaults to the folder's Normalize module; the last two
        keywords only mirror ``SentenceTransformer.encode`` (always NumPy, no progress bar).
        """
        out = np.zeros((len(texts), self.dimension()), dtype=np.float32)
        if not texts:
            return out
        inputs = [text.lower() if self.lowercase else text for text in texts]
        encodings = self.tokenizer.encode_batch(inputs, add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        start = 0
        while start < len(order):
            longest = len(encodings[order[start]].ids)
            count = max(1, min(batch_size, _TOKEN_BUDGET // max(longest, 1)))
            batch = order[start:start + count]
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros((len(batch), longest), dtype=np.float32)
            for row, index in enumerate(batch):
                encoding = encodings[index]
                ids[row, :len(encoding.ids)] = encoding.ids
                types[row, :len(encoding.ids)] = encoding.type_ids
                mask[row, :len(encoding.ids)] = 1.0
            out[batch] = self._pool(self._forward(ids, types, mask), mask)
            start += count
        if self.normalize if normalize_embeddings is None else normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _embedded(self, ids: np.ndarray, types: np.ndarray,
                  mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's input: token embeddings after their LayerNorm ``(batch * length,
        hidden)``, and the attention bias ``(batch, 1, 1, length)`` (masked keys get ~0 weight)."""
        batch, length = ids.shape
        x = self.word[ids]
        x += self.position[:length]
        x += self.token_type[types]
        x = _layer_norm(x.reshape(batch * length, self.hidden), *self.embed_norm, self.eps)
        return x, ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]

    def _forward(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token embeddings ``(batch, length, hidden)`` of the last encoder layer."""
        batch, length = ids.shape
        x, bias = self._embedded(ids, types, mask)
        for layer in self.layers:
            attended = _linear(self._attention(x, layer, bias), layer["out_w"], layer["out_b"])
            attended += x
            x = _layer_norm(attended, layer["ln1_w"], layer["ln1_b"], self.eps)
            output = _linear(_gelu(_linear(x, layer["mid_w"], layer["mid_b"])),
                             layer["down_w"], layer["down_b"])
            output += x
            x = _layer_norm(output, layer["ln2_w"], layer["ln2_b"], self.eps)
        return x.reshape(batch, length, self.hidden)

    def _attention(self, x: np.ndarray, layer: dict[str, np.ndarray],
                   bias: np.ndarray) -> np.ndarray:
        """Multi-head self-attention of ``x`` (batch * length, hidden), before the output dense."""
        batch, length = bias.shape[0], bias.shape[-1]
        heads, size = self.heads, self.hidden // self.heads
        qkv = _linear(x, layer["qkv_w"], layer["qkv_b"]).reshape(batch, length, 3, heads, size)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, length, size)
        q = q * np.float32(size ** -0.5)
        keys = k.swapaxes(-1, -2)
        context = np.empty((batch, length, heads, size), dtype=np.float32)
        rows = max(1, _ATTENTION_BLOCK // (length * size))
        for r in range(0, length, rows):
            scores = q[:, :, r:r + rows] @ keys  # (batch, heads, rows, length)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context[:, r:r + rows] = (scores @ v).transpose(0, 2, 1, 3)
        return context.reshape(batch * length, self.hidden)

    def _pool(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The pooling modes of ``1_Pooling/config.json``, concatenated in their order."""
        weights = mask[:, :, None]
        counts = np.maximum(weights.sum(axis=1), np.float32(1e-9))
        parts = []
        for mode in self.pooling:
            if mode == "cls":
                parts.append(tokens[:, 0])
            elif mode == "max":
                parts.append(np.where(weights > 0, tokens, -np.inf).max(axis=1))
            elif mode == "mean":
                parts.append((tokens * weights).sum(axis=1) / counts)
            else:  # mean_sqrt_len_tokens
                parts.append((tokens * weights).sum(axis=1) / np.sqrt(counts))
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)
