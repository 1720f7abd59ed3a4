"""Figures of a sweep, one board per figure: accuracy-vs-cost Pareto fronts per method with the budgets,
and predicted-vs-measured costs."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from micronas.report.pareto import pareto_front  # noqa: E402
from micronas.report.runs import by_method  # noqa: E402

DPI = 120


def pareto_png(points: list, cost, cost_label: str, budgets: list[float], title: str, path: Path) -> Path:
    """Accuracy vs `cost(point)` of one board's points, one colour per method: all points, the method's
    front as a step line, each budget in `budgets` (the cost's unit) as a dashed vertical line.

    Filled markers are measured (retrained int8 test accuracy, measured cost), hollow ones predicted
    (arch-val accuracy, predicted cost).
    """
    figure, axes = plt.subplots(figsize=(7.0, 4.6), dpi=DPI)
    for index, (method, mine) in enumerate(by_method(points).items()):
        colour = f"C{index}"
        for p in mine:
            axes.scatter(cost(p), 100 * p.accuracy, color=colour, s=36,
                         facecolors=colour if p.measured else "none")
        front = pareto_front(mine, cost, lambda p: p.accuracy)
        axes.step([cost(p) for p in front], [100 * p.accuracy for p in front], where="post", color=colour,
                  label=f"{method} ({len(front)} of {len(mine)} runs on the front)")
    for index, budget in enumerate(sorted(set(budgets))):
        axes.axvline(budget, color="grey", linestyle="--", linewidth=1,
                     label="budget" + ("s" if len(set(budgets)) > 1 else "") if index == 0 else None)
    axes.scatter([], [], color="black", s=36, label="filled: measured, int8 test")
    axes.scatter([], [], color="black", facecolors="none", s=36, label="hollow: predicted, arch-val")
    axes.set_xlabel(cost_label)
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)


def error_text(summary: dict) -> str:
    """`n=5  R^2=0.981  MAPE=3.2 %`; R^2 is left out where it is undefined (fewer than two distinct
    measurements)."""
    r2 = summary["r2"]
    fit = f"  R^2={r2:.3f}" if math.isfinite(r2) else "  (R^2 needs two different measurements)"
    return f"n={summary['n']}{fit}  MAPE={summary['mape_pct']:.1f} %"


def prediction_png(predicted: list[float], measured: list[float], summary: dict, unit: str, title: str,
                   path: Path) -> Path:
    """Predicted vs measured scatter of one board with the identity line; the error in the title."""
    figure, axes = plt.subplots(figsize=(5.4, 4.8), dpi=DPI)
    axes.scatter(measured, predicted, s=30, label="retrained architectures")
    low, high = min(measured + predicted), max(measured + predicted)
    axes.plot([low, high], [low, high], color="grey", linewidth=1, label="predicted = measured")
    axes.set_xlabel(f"measured ({unit})")
    axes.set_ylabel(f"predicted ({unit})")
    axes.set_title(f"{title}\n{error_text(summary)}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9, loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)
