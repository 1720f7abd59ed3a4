"""`mcu=qemu_m33` end to end, as a user runs it: the QEMU latency table of the dataset's whole search space
profiled over the pty (`python -m micronas.profiling.profile`), `search.py` on it under a latency budget in
millions of instructions, then `train.py` on the derived architecture, measured on the firmware in QEMU,
predicted beside measured. The latency is never shown as milliseconds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from micronas.profiling.profile import main as profile_main

ROOT = Path(__file__).resolve().parents[2]


def run(script, *overrides, cwd):
    env = {**os.environ, "MICRONAS_DATA_DIR": str(cwd / "data")}
    result = subprocess.run([sys.executable, str(ROOT / script), *overrides], cwd=cwd, capture_output=True,
                            text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def latency_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith(("latency", "budget latency"))]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 414 QEMU entries: ~7 min idle, ~15 min on a loaded 2-core machine
def test_profile_search_and_train_on_the_qemu_m33_board(m33_firmware, tflm_sources, qemu, tmp_path,
                                                        mlflow_uri):
    profile_main(["mcu=qemu_m33", "dataset=japanesevowels", f"data_dir={tmp_path / 'data'}"])
    table = tmp_path / "data" / "lut" / "qemu_m33.jsonl"
    lut = [json.loads(line) for line in table.read_text().splitlines()]
    assert lut[0]["header"]["board"] == "QEMU-mps2-an505" and len(lut) == 1 + 414
    for entry in lut[1:]:  # QEMU's defaults: one warm-up, one run (deterministic counts); never cycles
        assert entry["status"] == "ok" and entry["latency"]["repeats"] == 1
        assert entry["latency"]["samples_cycles"] is None and entry["latency"]["median_ms"] > 0

    common = ["mcu=qemu_m33", "dataset=japanesevowels", f"logger.tracking_uri={mlflow_uri}",
              "trainer.enable_progress_bar=false"]
    out = run("search.py", *common, "search.epochs=2", "++search.min_steps=0", "constraints.latency=1.0",
              "hydra.run.dir=search", cwd=tmp_path)
    search = json.loads((tmp_path / "search" / "summary.json").read_text())
    assert search["predicted"]["latency_unit"] == "M instructions"
    assert search["predicted"]["latency_predicted_share"] == 0  # the whole space is in the table
    assert search["constraints"]["latency"] == {"budget": 1.0, "unit": "M instructions",
                                                "predicted": search["predicted"]["latency_ms"], "met": True}
    printed = latency_lines(out)
    assert len(printed) == 2 and all("M instructions" in line and " ms" not in line for line in printed), out
    assert "QEMU's instruction count, not a board's time" in printed[0]

    out = run("train.py", *common, "arch=search/architecture.json", "retraining.max_epochs=2",
              "retraining.measurement.repeats=3", "hydra.run.dir=train", cwd=tmp_path)
    train = json.loads((tmp_path / "train" / "summary.json").read_text())
    assert train["device"]["board"] == "QEMU-mps2-an505" and train["latency_unit"] == "M instructions"
    predicted, measured = train["predicted"]["latency_ms"], train["measured"]["latency_ms"]
    assert predicted == pytest.approx(search["predicted"]["latency_ms"])
    # every entry of the table and the whole model are the same firmware's counts: within 5 %
    assert abs(predicted - measured) < 0.05 * measured
    assert train["output_check"]["windows"] == 32 and train["output_check"]["passed"]
    printed = latency_lines(out)
    assert printed and all("M instructions" in line and " ms" not in line for line in printed), out
    assert "not a board's time" in out
    run_ = MlflowClient(mlflow_uri).get_run(train["mlflow_run_id"])
    assert run_.data.tags["latency_unit"] == "M instructions" and run_.data.tags["mcu"] == "qemu_m33"
    assert run_.data.tags["mlflow.parentRunId"] == search["mlflow_run_id"]  # a child of its search
