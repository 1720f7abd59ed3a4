"""Retraining report artefacts: the confusion-matrix PNG and the predicted-vs-measured table."""

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def confusion_png(matrix: np.ndarray, class_names: list[str], path: Path, title: str) -> Path:
    """Draw `matrix` `[true, predicted]` with its counts into a PNG at `path`; the title is wrapped to the
    figure's width and the whole of it is kept in the file."""
    n = len(class_names)
    width = max(4.8, 1.0 + 0.6 * n)
    figure, axes = plt.subplots(figsize=(width, 0.8 + 0.6 * n), dpi=120)
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(n), class_names, rotation=45, ha="right")
    axes.set_yticks(range(n), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(textwrap.fill(title, int(width * 11)), fontsize=9)
    high = matrix.max() if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if count > high / 2 else "black"
        axes.text(col, row, str(count), ha="center", va="center", color=colour)
    figure.tight_layout()
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


def _number(value: float, unit: str) -> str:
    return f"{value:.0f}" if unit == "B" else f"{value:.4f}"


def costs_markdown(rows: list[dict]) -> str:
    """The rows of `micronas.train.costs.comparison` as a Markdown table."""
    lines = ["| cost | unit | predicted | measured | error % |", "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['cost']} | {row['unit']} | {_number(row['predicted'], row['unit'])} | "
            f"{_number(row['measured'], row['unit'])} | {row['error_pct']:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def costs_text(rows: list[dict]) -> str:
    """The same rows as a plain aligned table for the terminal."""
    width = max([2] + [len(row["unit"]) for row in rows])
    lines = [f"{'':8s} {'predicted':>{10 + width}s} {'measured':>{10 + width}s} {'error':>9s}"]
    for row in rows:
        unit = row["unit"]
        lines.append(
            f"{row['cost']:8s} {_number(row['predicted'], unit):>9s} {unit:{width}s} "
            f"{_number(row['measured'], unit):>9s} {unit:{width}s} {row['error_pct']:+8.2f}%"
        )
    return "\n".join(lines)
