"""train.py on `mcu=qemu_m33`: a QEMU latency table of the architecture's operators, then retraining,
export and the measurement of the int8 model on the firmware in QEMU, predicted beside measured."""

import json

import pytest
from mlflow.tracking import MlflowClient

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable
from micronas.hardware.qemu import QemuDevice
from micronas.profiling.profile import profile_ops
from micronas.train.train_run import run_training
from tests.train.conftest import small_basicmotions_arch


@pytest.mark.slow
def test_train_measures_on_the_qemu_board_with_predicted_beside_measured(
    m33_firmware, tflm_sources, qemu, tmp_path, mlflow_uri
):
    arch = small_basicmotions_arch()
    arch_path = arch.save(tmp_path / "architecture.json")
    lut = tmp_path / "qemu_m33.jsonl"
    overrides = [f"arch={arch_path}", "mcu=qemu_m33", f"mcu.cost.lut_path={lut}", "retraining.max_epochs=1",
                 "retraining.measurement.repeats=3", f"logger.tracking_uri={mlflow_uri}",
                 "trainer.enable_progress_bar=false"]
    cfg = load_config("train", overrides)
    with QemuDevice("m33", tflm_sources) as device:
        profile_ops(arch.ops(), device, LookupTable(lut, DeviceIdentity.from_mcu(cfg.mcu)), warmups=1, repeats=1)
    summary = run_training(cfg, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "measurement.json").read_text())
    assert record["device"]["board"] == "QEMU-mps2-an505" and record["measurement"]["tick_unit"] == "instructions"
    assert summary["measured"]["arena_bytes"] == record["measurement"]["arena_used_bytes"]
    predicted, measured = summary["predicted"]["latency_ms"], summary["measured"]["latency_ms"]
    # the table's single-op counts and the whole model's count are the same firmware's: within 5 %
    assert abs(predicted - measured) < 0.05 * measured
    # the method's output check over the pty: the board's int8 outputs on 32 test windows are the host's
    check = summary["output_check"]
    assert record["output_check"] == check and (check["windows"], check["max_abs_lsb"], check["passed"]) == (32, 0, True)
    run = MlflowClient(mlflow_uri).get_run(summary["mlflow_run_id"])
    assert run.data.metrics["measured/output_argmax_agreement"] == 1.0
