"""The output check (docs/method.md §9.9) on the in-process device: agreement when the outputs are the host's,
and the disagreement it must report when a device's outputs are off."""

import numpy as np
import pytest

from micronas.errors import DataError
from micronas.hardware.local_device import LocalTflmDevice
from micronas.hardware.output_check import OutputCheck, check_outputs, fixed_windows


class OffByLsb(LocalTflmDevice):
    """The in-process interpreter with its winning output pulled down by `lsb` (a board computing wrongly)."""

    def __init__(self, lsb: int):
        super().__init__()
        self.lsb = lsb

    def infer(self, input_bytes: bytes) -> bytes:
        out = np.frombuffer(super().infer(input_bytes), np.int8).astype(np.int16)
        out[out.argmax()] -= self.lsb
        return np.clip(out, -128, 127).astype(np.int8).tobytes()


@pytest.fixture(scope="module")
def windows():
    return np.random.default_rng(3).normal(size=(40, 16, 3, 1)).astype(np.float32)


def test_fixed_windows_are_spread_over_the_split_and_the_same_each_time(windows):
    chosen = fixed_windows(windows, 32)
    assert len(chosen) == 32 and (chosen[0] == windows[0]).all() and (chosen[-1] == windows[-1]).all()
    assert (fixed_windows(windows, 32) == chosen).all() and len(fixed_windows(windows[:5], 32)) == 5
    with pytest.raises(DataError, match="the output check needs at least one window; the split is empty"):
        fixed_windows(windows[:0])


def test_the_host_interpreter_agrees_with_itself(tiny_models, windows):
    device = LocalTflmDevice()
    device.load(tiny_models["ok"])
    check = check_outputs(device, tiny_models["ok"], fixed_windows(windows))
    assert (check.windows, check.argmax_agreement, check.max_abs_lsb, check.passed) == (32, 1.0, 0, True)
    assert OutputCheck.from_dict(check.to_dict()) == check


@pytest.mark.parametrize("lsb", [1, 2, 255])
def test_a_device_whose_outputs_differ_is_reported(tiny_models, windows, lsb):
    device = OffByLsb(lsb)
    device.load(tiny_models["ok"])
    check = check_outputs(device, tiny_models["ok"], fixed_windows(windows))
    assert check.max_abs_lsb >= min(lsb, 1) and check.passed == (lsb <= 1 and check.argmax_agreement == 1.0)
    if lsb == 255:  # the winner pulled down to -128: another class wins every window
        assert check.argmax_agreement < 1.0 and "FAILED (tolerance 1 LSB)" in check.describe()


def test_windows_of_another_shape_are_refused(tiny_models):
    device = LocalTflmDevice()
    device.load(tiny_models["ok"])
    with pytest.raises(DataError, match=r"windows of shape \(8, 3, 1\) do not fit the model's input \(16, 3, 1\)"):
        check_outputs(device, tiny_models["ok"], np.zeros((2, 8, 3, 1), np.float32))
