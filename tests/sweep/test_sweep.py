"""`search.py -m`: one parent MLflow run per sweep, every job a child, resumable with the same sweep dir."""

import shutil

import mlflow
import pytest


def children(client, parent_id):
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")


def test_a_joblib_sweep_logs_one_parent_run_with_a_child_per_job_and_the_pareto_report(tiny_sweep):
    assert "Joblib.Parallel(n_jobs=2" in tiny_sweep.stdout
    client = mlflow.MlflowClient(tiny_sweep.tracking_uri)
    parent = client.get_run(tiny_sweep.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["stage"] == "sweep"
    assert parent.data.params["sweep.overrides"].split()[1] == "constraints.latency=20,40"
    config = client.download_artifacts(parent.info.run_id, "sweep_config.yaml", str(tiny_sweep.folder))
    text = open(config).read()
    assert "constraints.latency=20,40" in text and "hydra_plugins.hydra_joblib_launcher" in text

    runs = children(client, parent.info.run_id)
    assert sorted(r.data.params["constraints.latency"] for r in runs) == ["20", "40"]
    job_runs = {(tiny_sweep.sweep_dir / job / "mlflow_run_id").read_text().strip() for job in ("0", "1")}
    assert job_runs == {r.info.run_id for r in runs}
    assert all(r.info.status == "FINISHED" and r.data.tags["stage"] == "search" for r in runs)

    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/pareto_latency.png", "report/pareto_arena.csv", "report/adherence.csv"} <= logged


@pytest.mark.slow   # a second sweep (~40 s)
def test_rerunning_an_interrupted_sweep_reuses_its_parent_and_repeats_only_unfinished_jobs(
        tiny_sweep, run_sweep, tmp_path):
    folder = shutil.copytree(tiny_sweep.folder, tmp_path / "copy")
    sweep_dir = folder / "multirun"
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    kept = (sweep_dir / "0" / "mlflow_run_id").read_text().strip()
    interrupted = (sweep_dir / "1" / "mlflow_run_id").read_text().strip()
    (sweep_dir / "1" / "summary.json").unlink()           # job 1 was killed before it finished
    client.set_terminated(interrupted, "KILLED")
    client.update_run(tiny_sweep.parent_run_id, status="RUNNING")

    result = run_sweep(folder, sweep_dir)                  # the basic launcher this time
    assert (sweep_dir / "mlflow_parent_run_id").read_text().strip() == tiny_sweep.parent_run_id
    assert result.stdout.count("holds a finished search") == 1
    assert (sweep_dir / "0" / "mlflow_run_id").read_text().strip() == kept
    rerun = (sweep_dir / "1" / "mlflow_run_id").read_text().strip()
    runs = {r.info.run_id: r for r in children(client, tiny_sweep.parent_run_id)}
    assert set(runs) == {kept, interrupted, rerun} and rerun != interrupted
    assert runs[rerun].info.status == "FINISHED" and runs[rerun].data.params["constraints.latency"] == "40"
    assert client.get_run(tiny_sweep.parent_run_id).info.status == "FINISHED"
    points = (sweep_dir / "report" / "points.csv").read_text().splitlines()[1:]
    assert sorted(line.split(",")[-2] for line in points) == sorted([kept, rerun])
