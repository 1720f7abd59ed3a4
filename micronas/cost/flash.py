"""Flash bytes of an exported int8 model (its `.tflite` flatbuffer), predicted from the architecture.

Exact parts: int8 weights, and per output channel of every convolution 28 bytes (an int32 bias, and a
float32 scale plus an int64 zero point for both the weight and the bias tensor). The rest is graph
overhead: a constant (schema, buffers, signature, input/output and head tensors) plus a per-conv and a
per-ADD cost (operator, tensor tables, tensor names). Those three constants are fitted by least squares
on models exported by `micronas.export` (`fit_overheads`); `bench/cost.py` prints the error on models
of other input shapes than the fit used.
"""

from dataclasses import dataclass

import numpy as np

from micronas.space.opspec import OpSpec

BYTES_PER_CHANNEL = 4 + 2 * (4 + 8)


def exact_bytes(ops: list[OpSpec]) -> int:
    """Weights and per-channel data of the convolutions."""
    convs = [op for op in ops if op.kind == "conv2d"]
    return sum(op.weight_count + BYTES_PER_CHANNEL * op.output_shape[-1] for op in convs)


@dataclass(frozen=True)
class FlashModel:
    """`flash = exact_bytes + fixed + per_conv * n_conv + per_add * n_add`."""

    fixed_bytes: int = 1976
    per_conv_bytes: int = 403
    per_add_bytes: int = 145

    def flash_bytes(self, ops: list[OpSpec]) -> int:
        kinds = [op.kind for op in ops]
        overhead = (
            self.fixed_bytes
            + self.per_conv_bytes * kinds.count("conv2d")
            + self.per_add_bytes * kinds.count("add")
        )
        return exact_bytes(ops) + overhead

    @classmethod
    def fit_overheads(cls, op_lists: list[list[OpSpec]], sizes: list[int]) -> "FlashModel":
        """Least-squares overhead constants from exported models' op lists and `.tflite` sizes."""
        rows = np.array(
            [
                [1.0, [o.kind for o in ops].count("conv2d"), [o.kind for o in ops].count("add")]
                for ops in op_lists
            ]
        )
        rest = np.array([size - exact_bytes(ops) for ops, size in zip(op_lists, sizes)], dtype=float)
        fixed, per_conv, per_add = np.linalg.lstsq(rows, rest, rcond=None)[0]
        return cls(round(fixed), round(per_conv), round(per_add))
