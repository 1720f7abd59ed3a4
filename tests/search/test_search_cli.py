"""`python search.py` as users run it: real Hydra composition, real MLflow (sqlite file and server)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]


def search(*overrides, cwd, check=True):
    result = subprocess.run([sys.executable, str(ROOT / "search.py"), *overrides], cwd=cwd,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "MICRONAS_DATA_DIR": str(cwd / "data")})
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_search_py_writes_its_run_directory_and_logs_to_the_default_sqlite_store(tmp_path):
    result = search("search.epochs=2", "++search.min_steps=0", "constraints.latency=30",
                    "trainer.enable_progress_bar=false",
                    "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "arch-val" in result.stdout and "budget latency" in result.stdout
    assert (tmp_path / "mlflow.db").is_file()  # sqlite:///mlflow.db relative to where the user runs it
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.run_name == "dnas | basicmotions | nucleo_l552 | latency<=30 ms"
    assert client.get_experiment(run.info.experiment_id).name == "micronas-basicmotions"
    assert run.data.params["search.method"] == "dnas"


def test_bad_values_end_in_one_sentence_and_exit_status_2(tmp_path):
    result = search("constraints.latency=-5", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: constraints.latency=-5 is not valid: a latency budget must be a positive, finite number of "
        "ms, or null for unconstrained."
    ]
    result = search("constraints.latency=0.5", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "is below the cheapest architecture of the search space for mcu=nucleo_l552" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("mlflow server did not start")
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_a_search_logs_to_a_real_mlflow_server(tmp_path, mlflow_server):
    search("search.epochs=1", "++search.min_steps=0", "trainer.enable_progress_bar=false",
           "hydra.run.dir=run",
           f"logger.tracking_uri={mlflow_server}", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    client = mlflow.MlflowClient(mlflow_server)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED" and "predicted/latency_ms" in run.data.metrics
    assert {"architecture.json", "summary.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert any((tmp_path / "artifacts").rglob("architecture.json"))  # stored by the server, not the client
    assert not (tmp_path / "mlflow.db").exists()


def test_an_impossible_job_of_a_sweep_is_skipped_with_its_sentence_and_the_sweep_goes_on(tmp_path):
    result = search("-m", "constraints.latency=1,30", "search.epochs=1", "++search.min_steps=0",
                    "trainer.enable_progress_bar=false",
                    "hydra.sweep.dir=sweep", cwd=tmp_path)
    impossible, feasible = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    assert "constraints.latency=1 ms is below the cheapest architecture" in (impossible / "error.txt").read_text()
    assert "This job is skipped; the sweep goes on." in result.stderr
    assert not (impossible / "summary.json").exists()
    assert json.loads((feasible / "summary.json").read_text())["constraints"]["latency"]["budget"] == 30


@pytest.mark.parametrize("overrides, sentence", [
    (["dataset=nosuch"], "error: dataset=nosuch is not a known dataset; valid options are: basicmotions, "),
    (["-m", "mcu=host,nope"],
     "error: mcu=nope is not a known mcu; valid options are: host, nicla_sense_me, "),
])
def test_an_unknown_group_option_on_the_command_line_is_one_sentence(tmp_path, overrides, sentence):
    result = search(*overrides, cwd=tmp_path, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(sentence)
