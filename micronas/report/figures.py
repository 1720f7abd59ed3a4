"""Figures of a sweep: accuracy-vs-cost Pareto fronts per method, predicted-vs-measured scatter."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from micronas.report.pareto import pareto_front  # noqa: E402
from micronas.report.runs import by_method  # noqa: E402


def pareto_png(points: list, cost, cost_label: str, path: Path) -> Path:
    """Accuracy vs `cost(point)`, one colour per method: all points, the method's front as a step line.

    Filled markers are measured (retrained int8 test accuracy, measured cost), hollow ones predicted
    (arch-val accuracy, predicted cost).
    """
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, (method, mine) in enumerate(by_method(points).items()):
        colour = f"C{index}"
        for p in mine:
            axes.scatter(cost(p), 100 * p.accuracy, color=colour, s=36,
                         facecolors=colour if p.measured else "none")
        front = pareto_front(mine, cost, lambda p: p.accuracy)
        axes.step([cost(p) for p in front], [100 * p.accuracy for p in front], where="post", color=colour,
                  label=f"{method} ({len(front)}/{len(mine)} on front)")
    axes.set_xlabel(cost_label)
    axes.set_ylabel("accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)


def prediction_png(predicted: list[float], measured: list[float], summary: dict, unit: str,
                   path: Path) -> Path:
    """Predicted vs measured scatter with the identity line, R^2 and MAPE in the title."""
    figure, axes = plt.subplots(figsize=(4.8, 4.4), dpi=120)
    axes.scatter(measured, predicted, s=30)
    low, high = min(measured + predicted), max(measured + predicted)
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set_xlabel(f"measured ({unit})")
    axes.set_ylabel(f"predicted ({unit})")
    axes.set_title(f"n={summary['n']}  R^2={summary['r2']:.3f}  MAPE={summary['mape_pct']:.1f} %", fontsize=9)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)
