"""train.py end to end on bundled BasicMotions with tiny epochs: a real Hydra run, the real tflite-micro
device, a real sqlite MLflow store read back through the client, linked to a search run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from micronas.export.tflm import TflmRunner

REPO = Path(__file__).resolve().parents[2]


def test_train_py_retrains_exports_measures_and_logs_a_child_run_of_the_search(host_setup, tmp_path):
    arch_path, lut = host_setup
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("micronas-basicmotions")
    search_run = client.create_run(experiment, run_name="search-basicmotions-host").info.run_id
    search_dir = tmp_path / "search"
    search_dir.mkdir()
    (search_dir / "architecture.json").write_text(arch_path.read_text())
    (search_dir / "summary.json").write_text(json.dumps({"mlflow_run_id": search_run}))
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "train.py", f"arch={search_dir / 'architecture.json'}", "dataset=basicmotions",
        "mcu=host", f"mcu.cost.lut_path={lut}", f"logger.tracking_uri={uri}", f"hydra.run.dir={run_dir}",
        "retraining.max_epochs=3", "retraining.repeats=2", "retraining.quantization.method=qat",
        "retraining.quantization.qat_epochs=2", "retraining.measurement.repeats=3",
        "constraints.latency=1000", "constraints.memory=1",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    model = (run_dir / "model_int8.tflite").read_bytes()
    assert summary["measured"]["flash_bytes"] == len(model)
    assert summary["measured"]["arena_bytes"] == TflmRunner(model).arena_bytes
    assert summary["verdicts_measured"] == {"latency": True, "memory": False}
    assert summary["constraints_met"] is False
    assert [r["seed"] for r in summary["repeats"]] == [0, 1]
    assert all(r["quantization"] == "qat" and r["int8_qat_test"] for r in summary["repeats"])
    assert set(summary["over_repeats"]["int8_acc"]) == {"mean", "std", "median", "min", "max"}
    chosen = min(summary["repeats"], key=lambda r: r["arch_val_loss"])
    assert summary["selected_seed"] == chosen["seed"]
    assert model == (run_dir / f"seed_{chosen['seed']}" / "model_int8.tflite").read_bytes()
    assert f"_len = {len(model)};" in (run_dir / "model_data.cc").read_text()
    deployed = json.loads((run_dir / "architecture.json").read_text())   # measured costs return to it
    searched = json.loads(Path(summary["architecture"]).read_text())
    assert deployed["cells"] == searched["cells"] and deployed["costs"]["measured"] == summary["measured"]
    assert deployed["costs"]["latency_ms"] == summary["predicted"]["latency_ms"]
    header = (run_dir / "model_data.h").read_text()
    assert f"kTensorArenaMeasuredBytes = {summary['measured']['arena_bytes']};" in header
    assert f"kTensorArenaPredictedBytes = {summary['predicted']['arena_bytes']};" in header
    record = json.loads((run_dir / "measurement.json").read_text())
    assert len(record["measurement"]["invoke_ticks"]) == 3
    for name in ("latency", "arena", "flash"):
        row = next(r for r in summary["comparison"] if r["cost"] == name)
        assert row["error_pct"] == summary["relative_error_pct"][name]
        assert abs(row["error_pct"] - 100 * (row["predicted"] - row["measured"]) / row["measured"]) < 1e-9
    assert f"model:    {run_dir / 'model_int8.tflite'}" in done.stdout
    assert f"MLflow:   run {summary['mlflow_run_id']}" in done.stdout

    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert {"stage": "train", "dataset": "basicmotions", "mcu": "host"}.items() <= run.data.tags.items()
    assert run.data.tags["micronas.search_run_id"] == run.data.tags["mlflow.parentRunId"] == search_run
    metrics = run.data.metrics
    assert metrics["test/int8_acc"] == summary["int8"]["accuracy"]
    assert metrics["measured/flash_bytes"] == len(model)
    assert metrics["predicted/latency_ms"] == summary["predicted"]["latency_ms"]
    assert metrics["error/arena_pct"] == summary["relative_error_pct"]["arena"]
    assert {"test/float_macro_f1", "test/int8_macro_f1", "test/int8_drop_points", "test/int8_acc_std"} <= set(
        metrics
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "model_int8.tflite", "model_data.h", "model_data.cc", "model_example.cc",
            "measurement.json", "costs.md", "architecture.json",
            "confusion_int8_test.png", "config.yaml", "predicted_vs_measured.json"} <= artifacts
    assert {p.name for p in run_dir.glob("*.h")} | {p.name for p in run_dir.glob("*.cc")} <= artifacts
    assert run.info.run_name == "train | basicmotions | host | latency<=1000 ms, memory<=1 kB"
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "predicted_vs_measured.json",
                                                      str(tmp_path))).read_text())
    rows = [dict(zip(table["columns"], values)) for values in table["data"]]
    assert [r["cost"] for r in rows] == [r["cost"] for r in summary["comparison"]]
    for row, expected in zip(rows, summary["comparison"]):   # the table keeps 10 significant digits
        assert row["predicted"] == pytest.approx(expected["predicted"])
        assert row["measured"] == pytest.approx(expected["measured"])
    note = run.data.tags["mlflow.note.content"]   # the description: predicted beside measured
    flash = next(r for r in summary["comparison"] if r["cost"] == "flash")
    assert f"| flash | B | {flash['predicted']:.0f} | {len(model)} |" in note
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert sorted(c.data.tags["seed"] for c in children) == ["0", "1"]
    for child in children:  # per-epoch curves of each seed, from the Lightning logger
        assert 1 <= len(client.get_metric_history(child.info.run_id, "val/loss")) <= 3
        assert "train/acc" in child.data.metrics
