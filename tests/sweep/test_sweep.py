"""`search.py -m`: one parent MLflow run per sweep, every job a child, resumable with the same sweep dir."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from hydra.types import RunMode
from omegaconf import open_dict

from micronas.config import CONF_DIR
from tests.sweep.conftest import ROOT
from micronas.tracking.sweep import PARENT_RUN_ENV, PARENT_RUN_FILE, SweepParentRun, find_parent_run, \
    start_parent_run


def children(client, parent_id):
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")


def test_a_joblib_sweep_logs_one_parent_run_with_a_child_per_job_and_the_pareto_report(tiny_sweep):
    assert "Joblib.Parallel(n_jobs=2" in tiny_sweep.stdout
    client = mlflow.MlflowClient(tiny_sweep.tracking_uri)
    parent = client.get_run(tiny_sweep.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["stage"] == "sweep"
    assert "constraints.latency=20,40" in parent.data.params["sweep.overrides"].split()
    config = client.download_artifacts(parent.info.run_id, "sweep_config.yaml", str(tiny_sweep.folder))
    text = open(config).read()
    assert "constraints.latency=20,40" in text and "hydra_plugins.hydra_joblib_launcher" in text

    runs = children(client, parent.info.run_id)
    assert sorted(r.data.params["constraints.latency"] for r in runs) == ["20", "40"]
    job_runs = {(tiny_sweep.sweep_dir / job / "mlflow_run_id").read_text().strip() for job in ("0", "1")}
    assert job_runs == {r.info.run_id for r in runs}
    assert all(r.info.status == "FINISHED" and r.data.tags["stage"] == "search" for r in runs)

    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/pareto_latency_nucleo_l552.png", "report/pareto_arena.csv",
            "report/adherence.csv"} <= logged


@pytest.fixture
def ray_token(monkeypatch):
    """Ray's token authentication, on explicitly with a fresh token for this test (never a file in ~/.ray)."""
    token = secrets.token_hex(16)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    return token


def test_a_ray_sweep_runs_its_jobs_on_a_local_ray_instance_as_children_of_one_parent(run_sweep, ray_token,
                                                                                      tmp_path):
    result = run_sweep(tmp_path, tmp_path / "multirun", "hydra/launcher=ray",
                       "+hydra.launcher.ray.init.num_cpus=2",
                       "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
                       "+hydra.launcher.ray.init.include_dashboard=false")
    output = result.stdout + result.stderr
    assert "Ray Launcher is launching 2 jobs" in output and "Started a local Ray instance" in output
    assert output.count("(_run_job pid=") >= 2    # the jobs printed from Ray worker processes
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = (tmp_path / "multirun" / PARENT_RUN_FILE).read_text().strip()
    runs = children(client, parent)
    assert sorted(r.data.params["constraints.latency"] for r in runs) == ["20", "40"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert client.get_run(parent).info.status == "FINISHED"
    assert "report/pareto_latency.csv" in {a.path for a in client.list_artifacts(parent, "report")}


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path, ray_token):
    """A real one-node Ray cluster (`ray start --head --block`) advertising 127.0.0.1, with token
    authentication, in its own working directory and process session: `(address, node dir)`. Only the
    processes of that session are stopped at the end (never `ray stop`, which stops every Ray of the user)."""
    node = tmp_path / "node"
    node.mkdir()
    port = free_local_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # short: Ray's socket paths must fit in 107 bytes
    log = open(tmp_path / "ray_head.log", "w")
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
         "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        # no drain on SIGTERM: Ray would otherwise wait up to 30 s for a raylet the same signal stops
        cwd=node, env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1",
                       "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
        stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (tmp_path / "ray_head.log").read_text():
            alive = head.poll() is None and time.monotonic() < deadline
            assert alive, (tmp_path / "ray_head.log").read_text()[-3000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", node
    finally:
        os.killpg(head.pid, signal.SIGTERM)    # the session the head leads: its GCS, raylet, workers
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sweep_on_an_existing_ray_cluster_whose_nodes_do_not_share_the_sweep_dir(run_sweep, ray_cluster,
                                                                                    tmp_path):
    address, node = ray_cluster
    driver = tmp_path / "driver"
    driver.mkdir()
    result = run_sweep(driver, Path("multirun"), "hydra/launcher=ray_cluster",
                       f"hydra.launcher.ray.init.address={address}",
                       f"logger.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}")
    assert "Started a local Ray instance" not in result.stdout + result.stderr
    parent = (driver / "multirun" / PARENT_RUN_FILE).read_text().strip()
    # the jobs ran in the node's working directory, where the parent's id file is not
    assert sorted(p.name for p in (node / "multirun").iterdir() if p.name.isdigit()) == ["0", "1"]
    assert not (node / "multirun" / PARENT_RUN_FILE).exists()
    job_runs = {(node / "multirun" / job / "mlflow_run_id").read_text().strip() for job in ("0", "1")}
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert {r.info.run_id for r in children(client, parent)} == job_runs
    assert client.get_run(parent).info.status == "FINISHED"

    probe = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address='{address}'); print('in')"],
                           env={**os.environ, "RAY_AUTH_TOKEN": "0" * 32}, capture_output=True, text=True,
                           timeout=120)   # a driver without the cluster's token
    assert probe.returncode != 0 and "in" not in probe.stdout and "token" in probe.stderr.lower()


def test_the_plain_ray_launcher_pointed_at_a_cluster_is_refused_in_one_sentence_before_any_run(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "search.py"), "-m", "constraints.latency=20,40", "hydra/launcher=ray",
         "hydra.launcher.ray.init.address=auto", f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: hydra.launcher.ray.init.address=auto connects to a running Ray cluster, which refuses the "
        "object-store size hydra/launcher=ray sets for a local instance; use hydra/launcher=ray_cluster "
        "(address=auto by default), or leave the address unset for a local instance.")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "multirun" / PARENT_RUN_FILE).exists()


def sweep_job_config(sweep_dir, tracking_uri, latency):
    """The config a launcher hands to one job of a sweep into `sweep_dir`, as Hydra composes it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose(config_name="search", return_hydra_config=True,
                         overrides=[f"hydra.sweep.dir={sweep_dir}", f"logger.tracking_uri={tracking_uri}",
                                    "logger.experiment_name=cluster", f"constraints.latency={latency}"])
    with open_dict(config):
        config.hydra.mode = RunMode.MULTIRUN
        config.hydra.overrides.task = [f"constraints.latency={latency}"]
        config.hydra.launcher._target_ = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    return config


def test_a_job_on_a_node_without_the_sweep_dir_finds_its_parent_run_in_mlflow(tmp_path, mlflow_uri, monkeypatch):
    driver = sweep_job_config(tmp_path / "sweeps" / "a", mlflow_uri, 20)
    parent = start_parent_run(driver)
    other = start_parent_run(sweep_job_config(tmp_path / "sweeps" / "b", mlflow_uri, 20))
    (tmp_path / "sweeps" / "a" / PARENT_RUN_FILE).unlink()   # the job runs where this file is not

    job = sweep_job_config(tmp_path / "sweeps" / "a", mlflow_uri, 40)
    assert find_parent_run(job) == parent != other
    monkeypatch.delenv(PARENT_RUN_ENV, raising=False)
    SweepParentRun().on_job_start(job)
    assert os.environ[PARENT_RUN_ENV] == parent
    assert find_parent_run(sweep_job_config(tmp_path / "sweeps" / "never", mlflow_uri, 20)) is None


@pytest.mark.slow   # a second sweep (~40 s)
def test_rerunning_an_interrupted_sweep_reuses_its_parent_and_resumes_only_unfinished_jobs(
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
    assert result.stdout.count("holds an interrupted search; resuming it") == 1
    assert "Restoring states from the checkpoint" in result.stdout + result.stderr
    assert (sweep_dir / "0" / "mlflow_run_id").read_text().strip() == kept
    assert (sweep_dir / "1" / "mlflow_run_id").read_text().strip() == interrupted  # the same run, continued
    runs = {r.info.run_id: r for r in children(client, tiny_sweep.parent_run_id)}
    assert set(runs) == {kept, interrupted}
    assert runs[interrupted].info.status == "FINISHED"
    assert runs[interrupted].data.params["constraints.latency"] == "40"
    assert client.get_run(tiny_sweep.parent_run_id).info.status == "FINISHED"
    points = (sweep_dir / "report" / "points.csv").read_text().splitlines()[1:]
    assert sorted(line.split(",")[-2] for line in points) == sorted([kept, interrupted])


def test_a_sweep_whose_job_crashes_ends_its_parent_run_failed_and_says_so(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "search.py"), "-m", "constraints.latency=20", "search.epochs=1",
         "trainer.accelerator=gpu", f"hydra.sweep.dir={tmp_path / 'multirun'}"],   # no GPU: Lightning raises
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data"), "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 1
    parent = (tmp_path / "multirun" / PARENT_RUN_FILE).read_text().strip()
    job = (tmp_path / "multirun" / "0" / "mlflow_run_id").read_text().strip()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_run(parent).info.status == "FAILED" and client.get_run(job).info.status == "FAILED"
    for run_id in (parent, job):
        assert f"MLflow run {run_id} marked FAILED" in result.stderr
