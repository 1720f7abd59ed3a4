"""`python -m micronas.data`: composes and validates the config, prints the summary, one sentence on error."""

import subprocess
import sys

import pytest

from micronas.data.__main__ import main


def test_summary_of_a_bundled_dataset_as_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "micronas.data", "dataset=basicmotions"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dataset basicmotions: protocol aeon train/test" in out
    assert "windows: 100 time steps x 6 channels (accel_x" in out
    assert "classes: 4" in out
    assert "badminton        8 ( 25.0 %)        2 ( 25.0 %)       10 ( 25.0 %)" in out
    assert out.splitlines()[-4].split() == ["total", "32", "8", "40"]


def test_bad_input_exits_2_with_one_sentence(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["dataset=nosuch"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        "error: dataset=nosuch is not a known dataset; valid options are"
    )
    with pytest.raises(SystemExit):
        main(["dataset=ucihar", f"data_dir={tmp_path}", "dataset.url=http://127.0.0.1:9/offline.zip"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not download http://127.0.0.1:9/offline.zip" in err
    assert f"place it at {tmp_path}/ucihar/human+activity+recognition+using+smartphones.zip" in err
