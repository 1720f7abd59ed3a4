"""The cycles-per-instruction fit: one ratio per predictor group, the overall median for an unseen group."""

import pytest

from micronas.profiling.cpi import fit_cpi, heldout_error, predict_cycles, sample_sizes_curve
from micronas.space.opspec import OpSpec

TEMPORAL = OpSpec("conv2d", (64, 9, 8), (32, 9, 16), (5, 1), (2, 1), "same", "relu")
POINTWISE = OpSpec("conv2d", (16, 5, 8), (16, 5, 16), (1, 1), (1, 1), "same", "relu")
ADD = OpSpec("add", (16, 5, 8), (16, 5, 8))
SOFTMAX = OpSpec("softmax", (6,), (6,))


def test_each_group_gets_its_own_ratio_and_an_unseen_group_the_overall_median():
    pairs = [(TEMPORAL, 1000, 1500), (TEMPORAL, 2000, 3100), (TEMPORAL, 4000, 5800), (POINTWISE, 100, 200),
             (ADD, 50, 300)]
    cpi = fit_cpi(pairs)
    assert cpi["conv_temporal"] == pytest.approx(1.5) and cpi["conv_pointwise"] == 2.0 and cpi["add"] == 6.0
    assert cpi["*"] == pytest.approx(1.55)  # median of 1.5, 1.55, 1.45, 2, 6
    assert predict_cycles(cpi, SOFTMAX, 1000) == pytest.approx(1550)


def test_an_exact_ratio_has_no_heldout_error_and_the_curve_skips_sizes_beyond_the_pool():
    pairs = [(TEMPORAL if i % 2 else ADD, 100 + i, (3 if i % 2 else 5) * (100 + i)) for i in range(40)]
    error = heldout_error(fit_cpi(pairs[:20]), pairs[20:])
    assert error["mape_pct"] == pytest.approx(0) and error["r2"] == pytest.approx(1)
    curve = sample_sizes_curve(pairs[:30], pairs[30:])
    assert [size for size, _ in curve] == [10, 30] and all(e["mape_pct"] == pytest.approx(0) for _, e in curve)
