"""The method's on-device output check (docs/method.md §9.9): the int8 outputs a device computes for fixed
windows (sent over the protocol's INPUT and read back with INFER) against the host tflite-micro
interpreter's, as argmax agreement and the largest difference in LSB."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from micronas.export.quantize import quantize
from micronas.export.tflm import TflmRunner
from micronas.errors import DataError
from micronas.hardware.device import Device
from micronas.hardware.errors import DeviceError

WINDOWS = 32
TOLERANCE_LSB = 1  # docs/method.md §9.9: the board's int8 outputs match the host's within 1 LSB


def fixed_windows(windows: np.ndarray, count: int = WINDOWS) -> np.ndarray:
    """`count` windows spread evenly over `windows` (first and last included), the same on every run."""
    if len(windows) == 0:
        raise DataError("the output check needs at least one window; the split is empty.")
    return windows[np.unique(np.linspace(0, len(windows) - 1, min(count, len(windows))).round().astype(int))]


@dataclass(frozen=True)
class OutputCheck:
    """How a device's int8 outputs compare with the host interpreter's on the same int8 inputs."""

    windows: int
    argmax_agreement: float  # share of windows whose argmax is the host's
    max_abs_lsb: int  # largest |device - host| over every output of every window
    within_tolerance: float  # share of windows whose outputs all lie within TOLERANCE_LSB of the host's
    reference: str  # what the host side is

    @property
    def passed(self) -> bool:
        return self.argmax_agreement == 1.0 and self.max_abs_lsb <= TOLERANCE_LSB

    def to_dict(self) -> dict:
        return {**asdict(self), "tolerance_lsb": TOLERANCE_LSB, "passed": self.passed}

    @classmethod
    def from_dict(cls, record: dict) -> OutputCheck:
        """From `to_dict()`'s record (as `measurement.json` and `summary.json` hold it)."""
        return cls(*(record[name] for name in cls.__dataclass_fields__))

    def describe(self) -> str:
        verdict = "passed" if self.passed else f"FAILED (tolerance {TOLERANCE_LSB} LSB)"
        return (f"output check on {self.windows} windows: argmax agreement {100 * self.argmax_agreement:.1f} %, "
                f"max |difference| {self.max_abs_lsb} LSB vs {self.reference}: {verdict}")


def check_outputs(device: Device, model: bytes, windows: np.ndarray) -> OutputCheck:
    """Compare `device` (with `model` loaded) with the host interpreter on float NHWC `windows`, quantised
    with the model's input scale and zero point as on the board (docs/method.md §9.6)."""
    from tflite_micro.python.tflite_micro._version import __version__ as tflm_version

    host = TflmRunner(model)
    inputs = quantize(np.asarray(windows, np.float32), *host.input_quantization)
    if inputs.shape[1:] != host.input_shape[1:]:
        raise DataError(f"windows of shape {inputs.shape[1:]} do not fit the model's input {host.input_shape[1:]}.")
    expected = host.invoke_batch(inputs).reshape(len(inputs), -1).astype(np.int32)
    got = np.stack([np.frombuffer(device.infer(x.tobytes()), np.int8) for x in inputs]).astype(np.int32)
    if got.shape != expected.shape:
        raise DeviceError(f"the device returned outputs of {got.shape[1]} bytes; the model's output has "
                         f"{expected.shape[1]}.")
    difference = np.abs(got - expected)
    return OutputCheck(
        windows=len(inputs),
        argmax_agreement=float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1))),
        max_abs_lsb=int(difference.max()),
        within_tolerance=float(np.mean(difference.max(axis=1) <= TOLERANCE_LSB)),
        reference=f"tflite-micro {tflm_version} (host, reference kernels)",
    )
