"""CSV tables of a sweep: every point, the Pareto points, constraint adherence per method."""

import csv
from pathlib import Path

from micronas.budgets import UNITS
from micronas.report.runs import by_method

POINT_COLUMNS = ["method", "dataset", "mcu", "budgets", "source", "accuracy", "latency_ms", "arena_bytes",
                 "val_accuracy", "predicted_latency_ms", "predicted_arena_bytes", "measured_latency_ms",
                 "measured_arena_bytes", "test_int8_accuracy", "constraints_met", "run_id", "retrain_run_id"]


def point_row(point) -> dict:
    """One CSV row of a `SearchPoint`."""
    return {
        "method": point.method, "dataset": point.dataset, "mcu": point.mcu, "budgets": point.budget_label,
        "source": point.source, "accuracy": point.accuracy, "latency_ms": point.latency_ms,
        "arena_bytes": point.arena_bytes, "val_accuracy": point.val_accuracy,
        "predicted_latency_ms": point.predicted_latency_ms,
        "predicted_arena_bytes": point.predicted_arena_bytes,
        "measured_latency_ms": point.measured_latency_ms, "measured_arena_bytes": point.measured_arena_bytes,
        "test_int8_accuracy": point.test_int8_accuracy, "constraints_met": all(point.met.values()),
        "run_id": point.run_id, "retrain_run_id": point.retrain_run_id,
    }


def adherence_rows(points: list) -> list[dict]:
    """Per method: runs, how many met every budget they set (predicted costs), and per-budget counts."""
    rows = []
    for method, mine in by_method(points).items():
        row = {"method": method, "runs": len(mine), "all_met": sum(all(p.met.values()) for p in mine)}
        row["all_met_pct"] = 100.0 * row["all_met"] / len(mine)
        for name in UNITS:
            constrained = [p for p in mine if p.budgets.get(name) is not None]
            row[f"{name}_constrained"] = len(constrained)
            row[f"{name}_met"] = sum(p.met.get(name, False) for p in constrained)
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path, columns: list[str] | None = None) -> Path:
    """Write `rows` (dicts) to `path` with a header; columns default to the first row's keys."""
    columns = columns or (list(rows[0]) if rows else [])
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)
