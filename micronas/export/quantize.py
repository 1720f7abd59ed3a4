"""Affine int8 quantisation of model inputs and outputs, identical on host and device (docs/method.md §9.6).

`q = clip(round(x / s) + z, -128, 127)` with the division in float32 and rounding half away from
zero, as TFLite's `QUANTIZE` kernel and C's `roundf` do (NumPy's `round` rounds half to even).
"""

import numpy as np


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (exact: no `+0.5` in floating point)."""
    whole = np.trunc(values)
    return whole + np.sign(values) * (np.abs(values - whole) >= 0.5)


def quantize(x, scale: float, zero_point: int) -> np.ndarray:
    """Float values to int8: `clip(round(x / scale) + zero_point, -128, 127)`."""
    scaled = np.asarray(x, dtype=np.float32) / np.float32(scale)
    return np.clip(round_half_away(scaled) + zero_point, -128, 127).astype(np.int8)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """Int8 values to float32: `(q - zero_point) * scale`."""
    return ((np.asarray(q, dtype=np.int32) - zero_point) * np.float32(scale)).astype(np.float32)
