"""Just enough of the ONNX protobuf format to write a model ONNX Runtime can load.

``onnxruntime`` takes a serialized ``ModelProto``; the ``onnx`` package that usually builds
one costs ~1.5 s to import (its dtype tables), more than the whole encoder load. The few
messages an encoder graph needs are written here directly in the protobuf wire format
(field numbers from ``onnx.proto``): varints, length-delimited fields and fixed32 floats.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np

FLOAT, INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType
IR_VERSION = 8


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, as protobuf does
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _key(field, 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def attribute(name: str, value: int | float | Sequence[int]) -> bytes:
    """An ``AttributeProto`` (int, float or list of ints)."""
    if isinstance(value, float):
        body = _bytes(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
    elif isinstance(value, int):
        body = _bytes(1, name) + _int(3, value) + _int(20, _ATTR_INT)
    else:
        body = _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    return body


def node(op_type: str, inputs: Iterable[str], outputs: Iterable[str], name: str,
         **attributes: int | float | Sequence[int]) -> bytes:
    """A ``NodeProto`` of the default domain."""
    body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    body += _bytes(3, name) + _bytes(4, op_type)
    body += b"".join(_bytes(5, attribute(k, v)) for k, v in attributes.items())
    return body


def tensor(name: str, array: np.ndarray) -> bytes:
    """A ``TensorProto`` initializer (float32 or int64, little-endian raw data)."""
    if array.dtype == np.float32:
        kind, data = FLOAT, np.ascontiguousarray(array, dtype="<f4").tobytes()
    elif array.dtype == np.int64:
        kind, data = INT64, np.ascontiguousarray(array, dtype="<i8").tobytes()
    else:
        raise TypeError(f"unsupported initializer dtype {array.dtype}")
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, kind)
            + _bytes(8, name) + _bytes(9, data))


def external_tensor(name: str, array: np.ndarray) -> bytes:
    """A float32 ``TensorProto`` whose data lives outside the model (EXTERNAL location): the
    session is handed the array itself (``SessionOptions.add_external_initializers``)."""
    if array.dtype != np.float32:
        raise TypeError(f"unsupported external initializer dtype {array.dtype}")
    location = _bytes(1, "location") + _bytes(2, "dlgforge-in-memory")
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, FLOAT) + _bytes(8, name)
            + _bytes(13, location) + _int(14, 1))


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """A ``ValueInfoProto``: a tensor of ``elem_type`` whose dims are sizes or names."""
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in dims)
    tensor_type = _int(1, elem_type) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes: Iterable[bytes], initializers: Iterable[bytes], inputs: Iterable[bytes],
          outputs: Iterable[bytes], opset: int, name: str = "graph") -> bytes:
    """A serialized ``ModelProto`` holding one graph."""
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, name)
             + b"".join(_bytes(5, t) for t in initializers)
             + b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs))
    opset_id = _bytes(1, "") + _int(2, opset)
    return (_int(1, IR_VERSION) + _bytes(2, "dlgforge") + _bytes(7, graph)
            + _bytes(8, opset_id))
