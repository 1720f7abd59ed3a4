"""The fallback latency predictor: per-group NNLS, kernel classes, config round trip."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from micronas.cost.lut import LutEntry
from micronas.cost.predictor import LatencyPredictor, features, op_group
from micronas.errors import ConfigError
from micronas.space.opspec import OpSpec

CLOCK_HZ = 80_000_000


def conv(cin, cout, kernel, h=16, w=5):
    return OpSpec("conv2d", (h, w, cin), (h, w, cout), kernel, (1, 1), "same", "relu")


def synthetic_entries(true_cycles):
    """Entries whose cycles follow `true_cycles(op)` exactly."""
    ops = [
        conv(cin, cout, k) for cin in (4, 8, 24, 40) for cout in (8, 16, 48) for k in ((3, 1), (1, 5), (1, 1))
    ]
    ops += [OpSpec("add", (16, 5, c), (16, 5, c)) for c in (8, 16, 32, 64)]
    return [
        LutEntry(
            op=op, samples_ms=(1000 * true_cycles(op) / CLOCK_HZ,), samples_cycles=(round(true_cycles(op)),)
        )
        for op in ops
    ]


def test_ops_fall_into_kernel_class_groups():
    assert op_group(conv(8, 8, (7, 1))) == "conv_temporal"
    assert op_group(conv(8, 8, (1, 9))) == "conv_sensor"
    assert op_group(conv(8, 8, (1, 1))) == "conv_pointwise"
    assert op_group(OpSpec("mean", (16, 5, 6), (6,))) == "mean"


def test_plain_features_are_the_method_form():
    assert set(features(conv(8, 16, (3, 1)), "plain")) == {
        "const",
        "macs",
        "output_elements",
        "input_elements",
    }
    assert set(features(OpSpec("add", (16, 5, 8), (16, 5, 8)), "plain")) == {"const", "output_elements"}
    assert set(features(OpSpec("mean", (16, 5, 6), (6,)), "plain")) == {
        "const",
        "output_elements",
        "input_elements",
    }
    extended = features(conv(24, 16, (3, 1)), "extended")
    assert extended["taps"] == 16 * 5 * 3 and extended["im2col"] == 16 * 5 * 3 * 24
    assert extended["tail16"] == 16 * 5 * 16 * (3 * 24 % 16)


def test_a_noise_free_linear_truth_is_recovered_per_group():
    def truth(op):
        if op.kind == "add":
            return 2600 + 95 * op.output_elements
        slope = {"conv_temporal": 3.0, "conv_sensor": 2.5, "conv_pointwise": 2.0}[op_group(op)]
        return 1000 + slope * op.macs + 40 * op.output_elements

    entries = synthetic_entries(truth)
    predictor = LatencyPredictor.fit(entries, "plain", CLOCK_HZ)
    assert predictor.unit == "cycles"
    unseen = conv(56, 64, (3, 1))
    assert predictor.predict(unseen) == pytest.approx(truth(unseen), rel=1e-3)
    assert predictor.predict_ms(unseen) == pytest.approx(1000 * truth(unseen) / CLOCK_HZ, rel=1e-3)
    assert predictor.coefficients["conv_pointwise"]["macs"] == pytest.approx(2.0, rel=1e-3)


def test_coefficients_are_never_negative():
    rng = np.random.default_rng(0)
    entries = synthetic_entries(
        lambda op: max(1.0, 5000 - 3 * op.macs + rng.normal(0, 50)) if op.kind == "conv2d" else 10.0
    )
    predictor = LatencyPredictor.fit(entries, "extended", CLOCK_HZ)
    assert all(beta >= 0 for group in predictor.coefficients.values() for beta in group.values())


def test_a_group_measured_once_scales_with_its_size():
    mean = OpSpec("mean", (16, 5, 6), (6,))
    predictor = LatencyPredictor.fit([LutEntry(op=mean, samples_ms=(0.9,))], "plain")
    assert predictor.unit == "ms"
    assert predictor.predict_ms(OpSpec("mean", (16, 8, 12), (12,))) == pytest.approx(
        0.9 * (16 * 8 * 12) / (16 * 5 * 6)
    )


def test_the_config_form_round_trips_through_yaml():
    predictor = LatencyPredictor.fit(synthetic_entries(lambda op: 100 + op.macs), "extended", CLOCK_HZ)
    section = OmegaConf.create(OmegaConf.to_yaml(OmegaConf.create(predictor.to_config())))
    again = LatencyPredictor.from_config(section, CLOCK_HZ)
    op = conv(12, 24, (1, 5))
    assert again.predict_ms(op) == pytest.approx(predictor.predict_ms(op))
    with pytest.raises(ConfigError, match="unit=cycles needs the board's clock_hz"):
        LatencyPredictor.from_config(section, None)


def test_an_unfitted_group_is_refused_in_one_sentence():
    predictor = LatencyPredictor.fit(synthetic_entries(lambda op: 100 + op.macs), "plain", CLOCK_HZ)
    with pytest.raises(ConfigError, match="no softmax model"):
        predictor.predict_ms(OpSpec("softmax", (6,), (6,)))
    with pytest.raises(ConfigError, match="predictor features 'quadratic' is not valid"):
        LatencyPredictor.fit([], "quadratic")
