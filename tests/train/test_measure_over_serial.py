"""train.py's measurement on a serial device: the virtual board over a real pseudo-terminal."""

import json

from micronas.config import load_config
from micronas.train.train_run import run_training
from tests.hardware.conftest import VIRTUAL_BOARD, BoardProcess


def test_run_training_measures_the_model_on_the_serial_device_the_mcu_config_names(host_setup, tmp_path,
                                                                                   mlflow_uri):
    arch_path, lut = host_setup
    board = BoardProcess(VIRTUAL_BOARD)
    try:
        cfg = load_config("train", [
            f"arch={arch_path}", "mcu=host", f"mcu.cost.lut_path={lut}", "device.kind=serial",
            f"device.port={board.path}", "retraining.max_epochs=2", "retraining.measurement.repeats=3",
            f"logger.tracking_uri={mlflow_uri}", "trainer.enable_progress_bar=false",
        ])
        summary = run_training(cfg, tmp_path / "run")
    finally:
        board.stop()
    record = json.loads((tmp_path / "run" / "measurement.json").read_text())
    assert record["device"]["firmware_build"].endswith("virtual board")
    assert len(record["measurement"]["invoke_ticks"]) == 3
    assert summary["measured"]["arena_bytes"] == record["measurement"]["arena_used_bytes"]
    assert summary["measured"]["flash_bytes"] == (tmp_path / "run" / "model_int8.tflite").stat().st_size
    # the output check went over the pty too (INPUT, INFER): the virtual board runs the host's interpreter
    check = summary["output_check"]
    assert record["output_check"] == check and check["windows"] == 32 and check["passed"]
