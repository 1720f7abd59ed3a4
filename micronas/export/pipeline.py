"""`export_network`: a trained `DiscreteNet` to `model_int8.tflite` and `model_data.h`/`.cc`, with checks.

Checks (docs/method.md §9.4-9.5): the Keras float logits match PyTorch within 1e-4 on up to 256
windows; the converted graph has int8 I/O, only CONV_2D/ADD/MEAN/SOFTMAX, no float tensors, and
its operators equal `Architecture.ops()` (kinds, shapes, kernels, strides, padding, activation).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from micronas.export.c_files import write_handoff
from micronas.export.convert import check_representative, to_int8_tflite
from micronas.export.flatbuffer import check_deployable, read_graph, to_opspecs
from micronas.export.keras_model import logits_model, to_keras
from micronas.space.discrete import DiscreteNet
from micronas.space.opspec import OpSpec

FLOAT_TOLERANCE = 1e-4
FLOAT_CHECK_WINDOWS = 256
TFLITE_NAME = "model_int8.tflite"


class ExportError(RuntimeError):
    """An exported model that breaks an export invariant (a bug, not a user mistake)."""


@dataclass(frozen=True)
class ExportedModel:
    """The written artefacts and what was checked."""

    tflite: bytes
    tflite_path: Path
    header_path: Path
    source_path: Path
    ops: list[OpSpec]
    float_max_abs_diff: float

    @property
    def flash_bytes(self) -> int:
        return len(self.tflite)


def nchw_to_nhwc(windows: np.ndarray) -> np.ndarray:
    """PyTorch windows `[n, 1, T, S]` to the TFLite layout `[n, T, S, 1]`."""
    return np.ascontiguousarray(np.transpose(np.asarray(windows, dtype=np.float32), (0, 2, 3, 1)))


@torch.no_grad()
def float_logits_difference(net: DiscreteNet, keras_logits_model, windows: np.ndarray) -> float:
    """Max |Keras - PyTorch| of the class logits on `windows` `[n, 1, T, S]` (net in eval mode)."""
    net.eval()
    torch_logits = net(torch.as_tensor(windows, dtype=torch.float32)).numpy()
    keras_logits = np.asarray(keras_logits_model(nchw_to_nhwc(windows), training=False))
    return float(np.max(np.abs(torch_logits - keras_logits)))


def check_ops(model: bytes, expected: list[OpSpec]) -> None:
    """Raise `ExportError` unless the model is deployable and runs exactly `expected`."""
    graph = read_graph(model)
    check_deployable(graph)
    actual = to_opspecs(graph)
    if actual != expected:
        for position, (a, e) in enumerate(zip(actual, expected)):
            if a != e:
                raise ExportError(f"operator {position} is {a.key()} but the architecture lists {e.key()}")
        raise ExportError(f"the model has {len(actual)} operators but the architecture lists {len(expected)}")


def export_network(net: DiscreteNet, representative: np.ndarray, out_dir) -> ExportedModel:
    """Export `net` (trained, BN in inference mode) to `out_dir/model_int8.tflite` and `model_data.h`/`.cc`
    (the model's own facts; `micronas.train.train_run` adds the data's and the board's).

    `representative` holds calibration windows `[n, 1, T, S]` from the training data (docs/method.md §9.5:
    500 stratified windows).
    """
    t, s = net.arch.input_shape
    check_representative(representative, (1, t, s))
    keras_model = to_keras(net)
    windows = np.asarray(representative)[:FLOAT_CHECK_WINDOWS]
    difference = float_logits_difference(net, logits_model(keras_model), windows)
    if difference > FLOAT_TOLERANCE:
        raise ExportError(f"Keras and PyTorch float logits differ by {difference:.2e} > {FLOAT_TOLERANCE:g}")
    model = to_int8_tflite(keras_model, nchw_to_nhwc(representative))
    expected = net.arch.ops()
    check_ops(model, expected)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tflite_path = out_dir / TFLITE_NAME
    tflite_path.write_bytes(model)
    files = write_handoff(model, out_dir)
    return ExportedModel(model, tflite_path, files.header, files.source, expected, difference)
