"""The console of a command: progress lines with an ETA off a terminal, library noise hidden unless -v."""

import io
import os
import subprocess
import sys

import pytest

from micronas import console
from micronas.console import Progress, duration, native_output_hidden, split_verbose


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_off_a_terminal_progress_prints_a_line_every_n_units_with_elapsed_time_and_eta(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(console.time, "monotonic", clock)
    stream = io.StringIO()   # not a TTY
    progress = Progress(12, "search", "step", every=4, stream=stream)
    for _ in range(12):
        clock.now += 2.5     # 2.5 s per step: after 4 steps 10 s elapsed, 8 steps (20 s) to go
        progress.update(1, "epoch x")
    assert stream.getvalue().splitlines() == [
        "search: 4/12 steps (33 %), 0:10 elapsed, ETA 0:20, epoch x",
        "search: 8/12 steps (67 %), 0:20 elapsed, ETA 0:10, epoch x",
        "search: 12/12 steps (100 %), 0:30 elapsed, ETA 0:00, epoch x",
    ]


def test_an_early_stop_ends_with_a_line_and_a_bound_eta_says_at_most(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(console.time, "monotonic", clock)
    stream = io.StringIO()
    progress = Progress(100, "retraining", "step", every=50, stream=stream, bound=True, done=20)
    clock.now += 30
    progress.update(10)
    progress.close("stopped after epoch 3")
    assert stream.getvalue().splitlines() == [
        "retraining: 30/100 steps (30 %), 0:30 elapsed, ETA at most 3:30, stopped after epoch 3"]
    assert duration(3725) == "1:02:05"


def test_native_output_is_hidden_and_shown_again_when_the_block_fails(capfd):
    with native_output_hidden():
        os.write(2, b"fully_quantize: 0, inference_type: 6\n")
        os.write(1, b"native stdout\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError):
        with native_output_hidden():
            os.write(2, b"converter: why it failed\n")
            raise RuntimeError("conversion failed")
    assert "converter: why it failed" in capfd.readouterr().err


def test_v_is_taken_out_of_the_arguments():
    assert split_verbose(["-v", "dataset=ucihar", "--verbose"]) == (True, ["dataset=ucihar"])
    assert split_verbose(["dataset=ucihar"]) == (False, ["dataset=ucihar"])


NOISE = ("GPU available", "TPU available", "Tip:", "deprecated", "not found. Creating it",
         "Creating initial MLflow database", "comes from predicted entries", "[INFO]", "fully_quantize")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def search(tmp_path, *extra):
    """A short real search (real Hydra, a fresh sqlite store in `tmp_path`), output not on a TTY."""
    command = [sys.executable, os.path.join(ROOT, "search.py"), "search.epochs=2", "++search.min_steps=0",
               "constraints.latency=30", "hydra.run.dir=run", *extra]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_a_default_search_prints_progress_and_results_and_no_library_noise(tmp_path, compose):
    from micronas.data import make_datamodule

    out = search(tmp_path)
    for noise in NOISE:
        assert noise not in out, out
    batches = len(make_datamodule(compose("dataset=basicmotions")).train_dataloader())
    progress = [line for line in out.splitlines() if line.startswith("dnas search: ")]
    assert [line.split(" (")[0] for line in progress] == [
        f"dnas search: {batches * epoch}/{batches * 2} steps" for epoch in (1, 2)]
    assert all("elapsed, ETA " in line for line in progress)
    assert "budget latency" in out and "arch-val" in out
    assert "predicted (100 % from the board's calibrated predictor)" in out   # nucleo_l552 ships one


def test_v_shows_the_libraries_own_lines(tmp_path):
    out = search(tmp_path, "-v")
    assert "GPU available" in out and "[INFO]" in out
