"""Cycles per instruction: a board's measured operator cycles against QEMU's instruction counts of the same
operators under the same CMSIS-NN kernels. One CPI per predictor group (`op_group`), fitted on a few
measured operators, turns QEMU's counts of every other operator into cycle predictions: a new board is
measured on a handful of operators and profiled in QEMU for the rest.

A ratio of medians per group is used (`median(cycles / instructions)`); a group without a fitted entry
takes the median over all fitted entries.
"""

from __future__ import annotations

import statistics

import numpy as np

from micronas.cost.fit_metrics import error_summary
from micronas.cost.predictor import op_group


def fit_cpi(pairs: list[tuple[object, float, float]]) -> dict[str, float]:
    """`{group: cycles per instruction}` from `(op, instructions, cycles)` triples; `*` is every group."""
    ratios: dict[str, list[float]] = {}
    for op, instructions, cycles in pairs:
        ratios.setdefault(op_group(op), []).append(cycles / instructions)
    cpi = {group: statistics.median(values) for group, values in ratios.items()}
    cpi["*"] = statistics.median(cycles / instructions for _, instructions, cycles in pairs)
    return cpi


def predict_cycles(cpi: dict[str, float], op, instructions: float) -> float:
    return instructions * cpi.get(op_group(op), cpi["*"])


def heldout_error(cpi: dict[str, float], pairs) -> dict[str, float]:
    """R^2, MAPE and the rest (fit_metrics.error_summary, in cycles) of `cpi` on `pairs`."""
    measured = [cycles for _, _, cycles in pairs]
    predicted = [predict_cycles(cpi, op, instructions) for op, instructions, _ in pairs]
    return error_summary(measured, predicted)


def sample_sizes_curve(train, heldout, sizes=(10, 30, 100), draws=5, seed=0) -> list[tuple[int, dict]]:
    """Held-out error of CPIs fitted on `size` random training triples (median over `draws` draws)."""
    rng = np.random.default_rng(seed)
    curve = []
    for size in [s for s in sizes if s <= len(train)]:
        runs = [heldout_error(fit_cpi([train[i] for i in rng.choice(len(train), size, replace=False)]), heldout)
                for _ in range(draws)]
        curve.append((size, {k: statistics.median(r[k] for r in runs) for k in ("r2", "mape_pct", "within_10pct")}))
    return curve
