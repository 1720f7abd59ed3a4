"""Export a retrained network to int8 and score both versions on a split (docs/method.md §8, 9.5)."""

from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from micronas.export.pipeline import ExportedModel, export_network, nchw_to_nhwc
from micronas.export.tflm import TflmRunner
from micronas.metrics import accuracy, macro_f1
from micronas.space.discrete import DiscreteNet
from micronas.fitting.classifier import Evaluation


def evaluate_int8(model: bytes, dataset: TensorDataset, num_classes: int) -> Evaluation:
    """Accuracy and macro-F1 of the int8 model run in the tflite-micro interpreter, one Invoke per window."""
    x, y = dataset.tensors
    outputs = TflmRunner(model).predict(nchw_to_nhwc(x.numpy()))
    y_true, y_pred = y.numpy(), outputs.argmax(axis=1)
    return Evaluation(accuracy(y_true, y_pred), macro_f1(y_true, y_pred, num_classes), y_true, y_pred)


def export_and_score(
    net: DiscreteNet, representative: np.ndarray, datasets: dict[str, TensorDataset], num_classes: int,
    out_dir: Path,
) -> tuple[ExportedModel, dict[str, Evaluation]]:
    """Export `net` into `out_dir` and evaluate the int8 model on each of `datasets` (name -> split)."""
    exported = export_network(net.eval(), representative, out_dir)
    scores = {name: evaluate_int8(exported.tflite, data, num_classes) for name, data in datasets.items()}
    return exported, scores


def drop_points(float_eval: Evaluation, int8_eval: Evaluation) -> float:
    """Float minus int8 accuracy, in percentage points (positive: int8 is worse)."""
    return 100.0 * (float_eval.accuracy - int8_eval.accuracy)
