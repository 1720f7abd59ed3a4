"""A missing, corrupt or mismatched architecture and a bad recipe end in one sentence, before training."""

import subprocess
import sys
from pathlib import Path

import pytest

from micronas.config import load_config
from micronas.errors import MicronasError
from micronas.train.train_run import RUN_ID_FILE, run_training

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path, *overrides):
    cfg = load_config("train", [f"logger.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}", *overrides])
    return run_training(cfg, tmp_path / "out")


def test_a_missing_architecture_file_is_named_in_one_line_by_train_py(tmp_path):
    missing = tmp_path / "nowhere" / "architecture.json"
    done = subprocess.run(
        [sys.executable, "train.py", f"arch={missing}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: architecture file {missing} does not exist."
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], r"^arch is not set; pass arch=PATH/architecture.json"),
        (["retraining.quantization.method=int4"],
         r"retraining.quantization.method=int4 is not valid; valid methods are: ptq, qat, auto\.$"),
        (["retraining.repeats=0"], r"retraining.repeats=0 is not valid; use an integer of at least 1\.$"),
        (["retraining.label_smoothing=1.0"], r"retraining.label_smoothing=1.0 is not valid: use a number from 0"),
        (["retraining.augmentation.jitter_std=nan"],
         r"retraining.augmentation.jitter_std=nan is not valid: use a number from 0 \(off\) to 1"),
        (["retraining.augmentation.scale_std=big"], r"retraining.augmentation.scale_std='big' is not valid"),
        (["retraining.lr_decay=0"], r"retraining.lr_decay=0 is not valid: use a factor in \(0, 1\], such as 0\.5"),
    ],
)
def test_an_unset_arch_and_a_bad_recipe_are_refused(tmp_path, host_setup, overrides, message):
    arch_path, _ = host_setup
    if overrides:
        overrides = [f"arch={arch_path}", *overrides]
    with pytest.raises(MicronasError, match=message):
        run(tmp_path, *overrides)


def test_a_board_without_a_serial_port_is_refused_before_training(tmp_path, host_setup):
    arch_path, _ = host_setup
    with pytest.raises(MicronasError, match=r"^mcu.device.port is not set for mcu=nucleo_l552; pass the board"):
        run(tmp_path, f"arch={arch_path}", "mcu=nucleo_l552")
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_a_corrupt_architecture_file_is_refused(tmp_path):
    path = tmp_path / "architecture.json"
    path.write_text('{"input_shape": [100, 6], "num_classes": ')
    with pytest.raises(MicronasError, match=rf"^{path}: the architecture is not valid JSON"):
        run(tmp_path, f"arch={path}")


def test_an_architecture_of_another_window_shape_is_refused(tmp_path, host_setup):
    arch_path, _ = host_setup
    with pytest.raises(
        MicronasError,
        match=r"^the architecture is for 100x6 windows and 4 classes but dataset=japanesevowels has 25x12 "
        r"windows and 9 classes; derive an architecture for it\.$",
    ):
        run(tmp_path, f"arch={arch_path}", "dataset=japanesevowels")
    assert not (tmp_path / "out" / RUN_ID_FILE).exists()  # refused before any run was started
