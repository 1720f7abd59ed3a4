"""Write a sweep's report (Pareto fronts, adherence, predictor error) as PNG and CSV, and into MLflow.

Boards never share an axis: every figure is of one board (`<figure>_<board>.png`), as a host's
measured milliseconds and a board's predicted ones are not comparable."""

from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from micronas.fit_metrics import error_summary
from micronas.errors import DataError
from micronas.report.figures import error_text, pareto_png, prediction_png
from micronas.report.pareto import pareto_front
from micronas.report.runs import SearchPoint, by_method, collect_points
from micronas.report.tables import POINT_COLUMNS, adherence_rows, point_row, write_csv

COSTS = {  # report name -> (cost of a point, axis label ({latency}: the points' latency unit), budget)
    "latency": (lambda p: p.latency_ms, "latency ({latency}; measured if retrained, else predicted)",
                "latency"),
    "arena": (lambda p: p.arena_bytes / 1024, "tensor arena (kB; measured if retrained, else predicted)",
              "memory"),
}
PREDICTIONS = {  # name -> (predicted, measured, unit) of a retrained point, both for the board it ran on
    "latency": (lambda p: p.retrain_predicted_latency_ms, lambda p: p.measured_latency_ms, "{latency}"),
    "arena": (lambda p: p.retrain_predicted_arena_bytes, lambda p: p.measured_arena_bytes, "bytes"),
}


def latency_unit_of(points: list[SearchPoint]) -> str:
    """The one latency unit of `points` (ms, or M instructions on a QEMU board); mixed units are refused."""
    found = sorted({p.latency_unit for p in points})
    if len(found) > 1:
        raise DataError(f"the runs mix latency units ({' and '.join(found)}: a QEMU board counts "
                        "instructions); report the QEMU runs and the others apart.")
    return found[0] if found else "ms"


@dataclass
class Report:
    """What `write_report` found and wrote."""

    points: list[SearchPoint]
    parent_run_id: str | None
    files: list[Path]
    fronts: dict[str, list[SearchPoint]]       # cost name -> Pareto points of all methods, by method
    prediction_errors: dict[str, dict]         # cost name -> error_summary, when measurements exist


def by_board(points: list[SearchPoint]) -> dict[str, list[SearchPoint]]:
    """The points of each board (the one their costs are of), boards in name order."""
    groups: dict[str, list[SearchPoint]] = {}
    for point in points:
        groups.setdefault(point.mcu, []).append(point)
    return dict(sorted(groups.items()))


def _fronts(points: list[SearchPoint], cost) -> list[SearchPoint]:
    front = []
    for on_board in by_board(points).values():
        for mine in by_method(on_board).values():
            front += pareto_front(mine, cost, lambda p: p.accuracy)
    return front


def _prediction_errors(points: list[SearchPoint], out_dir: Path) -> tuple[dict, list[Path]]:
    """Per board and cost (`"nucleo_l552 latency"`): the error summary and its figure."""
    errors, files = {}, []
    for board, on_board in by_board(points).items():
        for name, (predicted, measured, unit) in PREDICTIONS.items():
            pairs = [(predicted(p), measured(p)) for p in on_board if None not in (predicted(p), measured(p))]
            if not pairs:
                continue
            pred, meas = [a for a, _ in pairs], [b for _, b in pairs]
            key = f"{board} {name}"
            errors[key] = error_summary(meas, pred)
            unit = unit.format(latency=latency_unit_of(on_board))
            title = f"{board}: predicted vs measured {name}"
            files.append(prediction_png(pred, meas, errors[key], unit, title,
                                        out_dir / f"prediction_{name}_{board}.png"))
    if errors:
        rows = [{"board": key.split(" ")[0], "cost": key.split(" ")[1]} | summary
                for key, summary in errors.items()]
        files.append(write_csv(rows, out_dir / "prediction_error.csv"))
    return errors, files


def _pareto_files(points: list[SearchPoint], name: str, out_dir: Path) -> list[Path]:
    """One accuracy-vs-`name` figure per board, with the budgets of the searches for that board (a budget
    set for another board says nothing about this one's costs)."""
    cost, label, budget = COSTS[name]
    files = []
    for board, on_board in by_board(points).items():
        budgets = [p.budgets[budget] for p in on_board
                   if p.budgets.get(budget) is not None and p.search_mcu in ("", board)]
        datasets = ", ".join(sorted({p.dataset for p in on_board}))
        title = f"{datasets} on {board}: accuracy vs {name} per search method"
        files.append(pareto_png(on_board, cost, label.format(latency=latency_unit_of(on_board)), budgets,
                                title, out_dir / f"pareto_{name}_{board}.png"))
    return files


def write_report(client: MlflowClient, target: str, out_dir: Path, log_to_parent: bool = True) -> Report:
    """Report the runs of `target` (experiment name or sweep parent run id) into `out_dir`.

    With a parent run and `log_to_parent`, the files are also logged to it under `report/`.
    """
    points, parent = collect_points(client, target)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [write_csv([point_row(p) for p in points], out_dir / "points.csv", POINT_COLUMNS),
             write_csv(adherence_rows(points), out_dir / "adherence.csv")]
    fronts = {}
    for name, (cost, _, _) in COSTS.items():
        fronts[name] = _fronts(points, cost)
        front_rows = [point_row(p) for p in fronts[name]]
        files.append(write_csv(front_rows, out_dir / f"pareto_{name}.csv", POINT_COLUMNS))
        files += _pareto_files(points, name, out_dir)
    errors, error_files = _prediction_errors(points, out_dir)
    files += error_files
    if parent is not None and log_to_parent:
        for path in files:
            client.log_artifact(parent, str(path), "report")
    return Report(points, parent, files, fronts, errors)


def format_report(report: Report) -> str:
    """The Pareto points per cost and the prediction errors, as plain text for the terminal."""
    lines = []
    for name, front in report.fronts.items():
        lines.append(f"Pareto front, accuracy vs {name}:")
        for p in front:
            lines.append(f"  {p.mcu:12s} {p.method:7s} {p.budget_label:18s} acc {100 * p.accuracy:6.2f} %  "
                         f"latency {p.latency_ms:9.3f} {p.latency_unit}  "
                         f"arena {p.arena_bytes / 1024:8.2f} kB  ({p.source})")
    for row in adherence_rows(report.points):
        lines.append(f"constraints met, {row['method']:7s}: {row['all_met']}/{row['runs']} runs (predicted costs)")
    for name, summary in report.prediction_errors.items():
        lines.append(f"predicted vs measured {name}: {error_text(summary)}")
    return "\n".join(lines)
