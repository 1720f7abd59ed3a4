"""`python -m micronas.report`: Pareto fronts, adherence and prediction error read back from MLflow."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from micronas.errors import DataError
from micronas.report import write_report
from micronas.report.pareto import pareto_front
from micronas.report.runs import SearchPoint

ROOT = Path(__file__).resolve().parents[2]


def rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def point(method, latency, accuracy):
    return SearchPoint(run_id=f"{method}-{latency}", method=method, dataset="basicmotions", mcu="nucleo_l552",
                       budgets={"latency": None}, met={}, val_accuracy=accuracy,
                       predicted_latency_ms=latency, predicted_arena_bytes=1024.0)


def test_the_pareto_front_keeps_exactly_the_points_no_other_point_dominates():
    points = [point("dnas", 5, 0.6), point("dnas", 10, 0.8), point("dnas", 12, 0.7), point("dnas", 20, 0.8),
              point("dnas", 30, 0.9), point("dnas", 4, 0.5)]
    front = pareto_front(points, lambda p: p.latency_ms, lambda p: p.accuracy)
    dominated = [p for p in points if any(q.latency_ms <= p.latency_ms and q.accuracy >= p.accuracy
                                          and (q.latency_ms, q.accuracy) != (p.latency_ms, p.accuracy)
                                          for q in points)]
    assert {p.run_id for p in front} == {p.run_id for p in points} - {p.run_id for p in dominated}
    assert [p.latency_ms for p in front] == sorted(p.latency_ms for p in front)


def test_report_cli_on_a_sweep_parent_writes_fronts_and_adherence_and_logs_them(tiny_sweep, tmp_path):
    out = tmp_path / "report"
    command = [sys.executable, "-m", "micronas.report", tiny_sweep.parent_run_id, "--out", str(out),
               "--tracking-uri", tiny_sweep.tracking_uri]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"2 search runs; 6 files in {out}; logged to parent run {tiny_sweep.parent_run_id}" \
        in result.stdout
    points = rows(out / "points.csv")
    job_runs = {(tiny_sweep.sweep_dir / job / "mlflow_run_id").read_text().strip() for job in ("0", "1")}
    assert {p["run_id"] for p in points} == job_runs
    assert {p["budgets"] for p in points} == {"latency<=20", "latency<=40"}
    assert all(p["source"] == "predicted" and p["method"] == "dnas" for p in points)
    for cost, column in (("latency", "latency_ms"), ("arena", "arena_bytes")):
        front = rows(out / f"pareto_{cost}.csv")
        assert front and {p["run_id"] for p in front} <= job_runs
        for p in front:   # nothing in the sweep is strictly better on both axes
            assert not any(float(q[column]) < float(p[column]) and float(q["accuracy"]) > float(p["accuracy"])
                           for q in points)
        assert (out / f"pareto_{cost}_nucleo_l552.png").stat().st_size > 10_000
    adherence = rows(out / "adherence.csv")
    met = sum(p["constraints_met"] == "True" for p in points)
    assert adherence == [adherence[0]] and adherence[0]["method"] == "dnas"
    counts = (adherence[0]["runs"], adherence[0]["latency_constrained"], adherence[0]["all_met"])
    assert counts == ("2", "2", str(met))
    assert not list(out.glob("prediction_*.png"))   # no retrain run measured these architectures


def test_report_by_experiment_name_finds_the_same_search_runs(tiny_sweep, tmp_path):
    client = mlflow.MlflowClient(tiny_sweep.tracking_uri)
    report = write_report(client, "micronas-basicmotions", tmp_path)
    assert report.parent_run_id is None
    by_parent = write_report(client, tiny_sweep.parent_run_id, tmp_path / "parent", log_to_parent=False)
    assert sorted(p.run_id for p in report.points) == sorted(p.run_id for p in by_parent.points)


def test_an_unknown_target_ends_in_one_sentence(tiny_sweep, tmp_path):
    command = [sys.executable, "-m", "micronas.report", "micronas-nope",
               "--tracking-uri", tiny_sweep.tracking_uri]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: micronas-nope is neither an experiment name nor a run id in {tiny_sweep.tracking_uri}; "
        "experiments there: Default, micronas-basicmotions."
    ]
    with pytest.raises(DataError, match="holds no finished search run"):
        write_report(mlflow.MlflowClient(tiny_sweep.tracking_uri), "Default", tmp_path)


def profile_host_table(arch_path, lut):
    """A host latency table covering exactly the operators of `arch_path` (real tflite-micro timings)."""
    from micronas.config import load_config
    from micronas.cost.lut import DeviceIdentity, LookupTable
    from micronas.profiling.profile import profile_ops
    from micronas.hardware.local_device import LocalTflmDevice
    from micronas.space.architecture import Architecture

    mcu = load_config("train", ["mcu=host", f"mcu.cost.lut_path={lut}"]).mcu
    with LocalTflmDevice() as device:
        table = LookupTable(lut, DeviceIdentity.from_mcu(mcu))
        profile_ops(Architecture.load(arch_path).ops(), device, table, warmups=1, repeats=3)


@pytest.mark.slow   # retrains, exports and measures with train.py (~25 s)
def test_a_retrained_sweep_job_is_reported_with_its_measured_costs_and_prediction_error(tiny_sweep, tmp_path):
    folder = shutil.copytree(tiny_sweep.folder, tmp_path / "copy")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    arch = folder / "multirun" / "0" / "architecture.json"
    profile_host_table(arch, tmp_path / "host.jsonl")
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"arch={arch}", "mcu=host",
         f"mcu.cost.lut_path={tmp_path / 'host.jsonl'}", "retraining.max_epochs=1",
         "retraining.representative_windows=20", "retraining.measurement.repeats=3",
         "trainer.enable_progress_bar=false", f"data_dir={folder / 'data'}", f"logger.tracking_uri={uri}",
         f"hydra.run.dir={tmp_path / 'train'}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(uri)
    report = write_report(client, tiny_sweep.parent_run_id, tmp_path / "report")
    measured = [p for p in report.points if p.measured]
    retrain = client.get_run(measured[0].retrain_run_id).data.metrics
    assert len(measured) == 1 and measured[0].mcu == "host"
    assert measured[0].latency_ms == retrain["measured/latency_ms"]
    assert measured[0].accuracy == retrain["test/int8_acc"]
    error = rows(tmp_path / "report" / "prediction_error.csv")
    latency = next(row for row in error if row["cost"] == "latency")
    predicted, measured_ms = retrain["predicted/latency_ms"], retrain["measured/latency_ms"]
    relative = abs(predicted - measured_ms) / measured_ms
    assert float(latency["mape_pct"]) == pytest.approx(100 * relative)
    assert latency["board"] == "host"
    assert (tmp_path / "report" / "prediction_latency_host.png").is_file()


def test_a_qemu_boards_points_are_reported_in_instructions_and_mixed_units_are_refused():
    from micronas.report.build import Report, format_report, latency_unit_of

    qemu = SearchPoint("a", "dnas", "japanesevowels", "qemu_m33", {"latency": 1.0}, {"latency": True}, 0.8, 0.9,
                       4000.0, latency_unit="M instructions")
    board = SearchPoint("b", "dnas", "japanesevowels", "nucleo_l552", {"latency": 10.0}, {"latency": True}, 0.8,
                        5.0, 4000.0)
    assert latency_unit_of([qemu]) == "M instructions" and latency_unit_of([board]) == "ms"
    text = format_report(Report([qemu], None, [], {"latency": [qemu]}, {}))
    assert "latency     0.900 M instructions  arena" in text and " ms" not in text
    with pytest.raises(DataError, match=r"^the runs mix latency units \(M instructions and ms: a QEMU board counts "
                                        r"instructions\); report the QEMU runs and the others apart.$"):
        latency_unit_of([qemu, board])
