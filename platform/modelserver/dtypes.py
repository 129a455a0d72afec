"""Element-type tables between OpenVINO, NumPy, TensorFlow ``DataType`` and KServe datatype strings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov


@dataclass(frozen=True)
class DType:
    ov_type: ov.Type
    numpy: np.dtype
    tf_enum: int          # tensorflow.DataType value
    kserve: str           # KServe v2 datatype string
    ovms: str             # OVMS precision name used in its error messages
    tf_val_field: str     # TensorProto repeated field for values outside tensor_content
    kserve_contents: str  # InferTensorContents field


_TABLE = [
    DType(ov.Type.f32, np.dtype(np.float32), 1, "FP32", "FP32", "float_val", "fp32_contents"),
    DType(ov.Type.f64, np.dtype(np.float64), 2, "FP64", "FP64", "double_val", "fp64_contents"),
    DType(ov.Type.i32, np.dtype(np.int32), 3, "INT32", "I32", "int_val", "int_contents"),
    DType(ov.Type.u8, np.dtype(np.uint8), 4, "UINT8", "U8", "int_val", "uint_contents"),
    DType(ov.Type.i16, np.dtype(np.int16), 5, "INT16", "I16", "int_val", "int_contents"),
    DType(ov.Type.i8, np.dtype(np.int8), 6, "INT8", "I8", "int_val", "int_contents"),
    DType(ov.Type.i64, np.dtype(np.int64), 9, "INT64", "I64", "int64_val", "int64_contents"),
    DType(ov.Type.boolean, np.dtype(np.bool_), 10, "BOOL", "BOOL", "bool_val", "bool_contents"),
    DType(ov.Type.u16, np.dtype(np.uint16), 17, "UINT16", "U16", "int_val", "uint_contents"),
    DType(ov.Type.f16, np.dtype(np.float16), 19, "FP16", "FP16", "half_val", ""),
    DType(ov.Type.u32, np.dtype(np.uint32), 22, "UINT32", "U32", "uint32_val", "uint_contents"),
    DType(ov.Type.u64, np.dtype(np.uint64), 23, "UINT64", "U64", "uint64_val", "uint64_contents"),
]

BY_OV = {d.ov_type.get_type_name(): d for d in _TABLE}
BY_TF = {d.tf_enum: d for d in _TABLE}
BY_KSERVE = {d.kserve: d for d in _TABLE}

# OVMS names TF types it cannot serve with their TF names in messages.
_TF_NAMES = {7: "DT_STRING", 8: "DT_COMPLEX64", 14: "DT_BFLOAT16", 18: "DT_COMPLEX128", 0: "DT_INVALID"}


def from_ov(element_type: ov.Type) -> DType:
    """Table row of an OpenVINO element type; raises KeyError for types the server cannot serialize."""
    return BY_OV[element_type.get_type_name()]


def tf_name(tf_enum: int) -> str:
    """OVMS-style precision name of a TensorFlow DataType value, for error messages."""
    row = BY_TF.get(tf_enum)
    return row.ovms if row else _TF_NAMES.get(tf_enum, f"DT_{tf_enum}")
