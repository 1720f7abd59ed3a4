"""The finished search runs of a sweep (or an experiment), each with its retrain run's measurements if any."""

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from micronas.budgets import UNITS
from micronas.errors import DataError

SEARCH_RUN_TAG = "micronas.search_run_id"  # set by train.py on a retrain run of a search's architecture


@dataclass
class SearchPoint:
    """One searched architecture: budgets, verdicts, accuracy, predicted and (if retrained) measured costs."""

    run_id: str
    method: str
    dataset: str
    mcu: str
    budgets: dict[str, float | None]
    met: dict[str, bool]
    val_accuracy: float
    predicted_latency_ms: float
    predicted_arena_bytes: float
    measured_latency_ms: float | None = None
    measured_arena_bytes: float | None = None
    test_int8_accuracy: float | None = None
    retrain_predicted_latency_ms: float | None = None   # the retrain run's prediction for its board
    retrain_predicted_arena_bytes: float | None = None
    retrain_run_id: str | None = None
    latency_unit: str = "ms"  # of `latency_ms`: "M instructions" on a QEMU board (the runs' latency_unit tag)
    search_mcu: str = ""      # the board the search and its budgets were for (`mcu` is the measured one)

    @property
    def measured(self) -> bool:
        return self.measured_latency_ms is not None

    @property
    def accuracy(self) -> float:
        """int8 test accuracy of the retrained network when it exists, else the search's arch-val accuracy."""
        return self.test_int8_accuracy if self.test_int8_accuracy is not None else self.val_accuracy

    @property
    def latency_ms(self) -> float:
        return self.measured_latency_ms if self.measured else self.predicted_latency_ms

    @property
    def arena_bytes(self) -> float:
        measured = self.measured_arena_bytes
        return measured if measured is not None else self.predicted_arena_bytes

    @property
    def source(self) -> str:
        """`measured` (retrained, int8 test accuracy) or `predicted` (search only, arch-val accuracy)."""
        return "measured" if self.measured else "predicted"

    @property
    def budget_label(self) -> str:
        set_budgets = [f"{name}<={value:g}" for name, value in self.budgets.items() if value is not None]
        return ", ".join(set_budgets) or "unconstrained"


def by_method(points: list[SearchPoint]) -> dict[str, list[SearchPoint]]:
    """The points of each search method, methods in name order."""
    groups: dict[str, list[SearchPoint]] = {}
    for point in points:
        groups.setdefault(point.method, []).append(point)
    return dict(sorted(groups.items()))


def _budget(params: dict, name: str) -> float | None:
    value = params.get(f"constraints.{name}")
    return None if value in (None, "None", "null") else float(value)


def _search_runs(client: MlflowClient, target: str) -> tuple[list, str | None]:
    """(finished search runs, parent run id or None) of an experiment name or a sweep's parent run id."""
    experiment = client.get_experiment_by_name(target)
    if experiment is not None:
        runs = client.search_runs([experiment.experiment_id], "tags.stage = 'search'", max_results=5000)
        return runs, None
    try:
        parent = client.get_run(target)
    except MlflowException:
        names = sorted(e.name for e in client.search_experiments())
        raise DataError(
            f"{target} is neither an experiment name nor a run id in {client.tracking_uri}; "
            f"experiments there: {', '.join(names) or 'none'}."
        ) from None
    ids = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.stage = 'search'"
    runs = client.search_runs(ids, query, max_results=5000)
    return runs, parent.info.run_id


def _retrain_runs(client: MlflowClient, search_runs: list) -> dict[str, object]:
    """The latest finished retrain run with measurements of each search run, by search run id."""
    ids = sorted({run.info.experiment_id for run in search_runs})
    wanted = {run.info.run_id for run in search_runs}
    found = {}
    for run in client.search_runs(ids, "attributes.status = 'FINISHED'", max_results=5000,
                                  order_by=["attributes.start_time ASC"]):
        search_id = run.data.tags.get(SEARCH_RUN_TAG)
        if search_id in wanted and "measured/latency_ms" in run.data.metrics:
            found[search_id] = run
    return found


def collect_points(client: MlflowClient, target: str) -> tuple[list[SearchPoint], str | None]:
    """The searched architectures under `target` (experiment name or parent run id) and the parent run id."""
    runs, parent = _search_runs(client, target)
    finished = [r for r in runs if r.info.status == "FINISHED" and "derived/val_acc" in r.data.metrics]
    if not finished:
        raise DataError(
            f"{target} holds no finished search run in {client.tracking_uri}; run search.py first."
        )
    retrained = _retrain_runs(client, finished)
    points = []
    for run in finished:
        m, params = run.data.metrics, run.data.params
        budgets = {name: _budget(params, name) for name in UNITS}
        point = SearchPoint(
            run_id=run.info.run_id,
            method=params.get("search.method", run.data.tags.get("search.method", "?")),
            dataset=params.get("dataset", "?"),
            mcu=params.get("mcu", "?"),
            budgets=budgets,
            met={name: bool(m[key]) for name in UNITS if (key := f"constraint/{name}_met") in m},
            val_accuracy=m["derived/val_acc"],
            predicted_latency_ms=m["predicted/latency_ms"],
            predicted_arena_bytes=m["predicted/arena_bytes"],
            latency_unit=run.data.tags.get("latency_unit", "ms"),
            search_mcu=params.get("mcu", "?"),
        )
        retrain = retrained.get(run.info.run_id)
        if retrain is not None:
            rm = retrain.data.metrics
            point.retrain_run_id = retrain.info.run_id
            point.mcu = retrain.data.params.get("mcu", point.mcu)   # the board the measurements come from
            point.latency_unit = retrain.data.tags.get("latency_unit", "ms")
            point.measured_latency_ms = rm["measured/latency_ms"]
            point.measured_arena_bytes = rm.get("measured/arena_bytes")
            point.test_int8_accuracy = rm.get("test/int8_acc")
            point.retrain_predicted_latency_ms = rm.get("predicted/latency_ms")
            point.retrain_predicted_arena_bytes = rm.get("predicted/arena_bytes")
        points.append(point)
    return sorted(points, key=lambda p: (p.method, p.latency_ms)), parent
