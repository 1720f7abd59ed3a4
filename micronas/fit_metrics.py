"""Error statistics of an estimator against measurements: R^2, MAPE, share within +-10 %, MAE, max."""

import numpy as np


def error_summary(measured, predicted) -> dict[str, float]:
    """R^2, MAPE (%), share within +-10 % (%), MAE and largest absolute error, in the inputs' unit."""
    measured, predicted = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    if measured.shape != predicted.shape or measured.size == 0:
        raise ValueError("error_summary needs equally long, non-empty measured and predicted values")
    residual = predicted - measured
    relative = np.abs(residual) / np.abs(measured)
    total = np.sum((measured - measured.mean()) ** 2)
    return {
        "n": int(measured.size),
        "r2": float(1.0 - np.sum(residual**2) / total) if total > 0 else float("nan"),
        "mape_pct": float(100.0 * relative.mean()),
        "within_10pct": float(100.0 * np.mean(relative <= 0.10)),
        "mae": float(np.abs(residual).mean()),
        "max_abs_error": float(np.abs(residual).max()),
    }


def format_summary(summary: dict[str, float], unit: str = "ms") -> str:
    """One line: `n=.. R^2=.. MAPE=..% within+-10%=..% MAE=.. max=..`."""
    return (
        f"n={summary['n']:4d}  R^2={summary['r2']:.4f}  MAPE={summary['mape_pct']:5.2f}%  "
        f"within+-10%={summary['within_10pct']:5.1f}%  MAE={summary['mae']:.3f} {unit}  "
        f"max={summary['max_abs_error']:.3f} {unit}"
    )
