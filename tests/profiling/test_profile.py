"""Host profiling: real single-op int8 models timed in tflite-micro, appended entry by entry, resumable."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from micronas.cost.graph import single_op_graph
from micronas.cost.lut import read_lut
from micronas.cost.memory import estimate_arena, tflm_build
from micronas.profiling import profile

QUICK = ["--repeats", "3", "--warmups", "1", "--rounds", "3", "--batch", "4"]


def run_cli(tmp_path, *extra):
    lut = tmp_path / "host.jsonl"
    profile.main(["mcu=host", "dataset=basicmotions", f"mcu.cost.lut_path={lut}", *QUICK, *extra])
    return lut


def test_profiles_missing_entries_and_resumes_after_a_torn_line(tmp_path, capsys, caplog):
    lut = run_cli(tmp_path, "--limit", "3")
    assert "0 of 462 entries were present, measured 3, 459 still missing, 0 failed" in capsys.readouterr().out
    _, first = read_lut(lut)
    assert len(first) == 3 and all(e.ok and len(e.samples_ms) == 3 for e in first)
    for entry in first:
        assert entry.invoke_ms > entry.latency_ms > 0
        # The arena tflite-micro reported for the single-op model is what the emulator predicts.
        assert (
            entry.arena_bytes
            == estimate_arena(single_op_graph(entry.op), tflm_build("host-64bit-reference")).arena_bytes
        )

    with open(lut, "a") as handle:  # a run killed while writing its fourth entry
        handle.write('{"key": "conv2d|100x6x1|50x6x4|k5x1|s2x1|sa')
    run_cli(tmp_path, "--limit", "2")
    assert "3 of 462 entries were present, measured 2, 457 still missing" in capsys.readouterr().out
    assert "half-written last line" in caplog.text
    _, second = read_lut(lut)
    assert len(second) == 5
    assert [e.to_json() for e in second[:3]] == [e.to_json() for e in first]  # nothing re-measured


@pytest.mark.slow
def test_a_killed_profile_run_continues_where_it_stopped(tmp_path):
    lut = tmp_path / "host.jsonl"
    command = [
        sys.executable,
        "-m",
        "micronas.profiling.profile",
        "mcu=host",
        "dataset=basicmotions",
        f"mcu.cost.lut_path={lut}",
        *QUICK,
        "--limit",
        "40",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and (not lut.exists() or len(lut.read_text().splitlines()) < 4):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    _, before = read_lut(lut)
    assert 3 <= len(before) < 40
    subprocess.run(command[:-1] + [str(len(before) + 2)], check=True, capture_output=True)
    _, after = read_lut(lut)
    keys = [json.loads(line)["key"] for line in lut.read_text().splitlines()[1:]]
    assert len(after) == len(keys) == len(set(keys)) >= len(before) + 2


def test_profile_reads_the_window_shape_of_an_npz_dataset_as_a_search_does(tmp_path, capsys):
    import numpy as np

    from micronas.cost.enumerate import enumerate_ops
    from micronas.space.searchspace import SearchSpace

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", X=rng.normal(size=(60, 3, 40)), y=np.arange(60) % 3)
    lut = tmp_path / "host.jsonl"
    profile.main(["mcu=host", "dataset=npz", f"dataset.path={tmp_path / 'mine.npz'}",
                  f"mcu.cost.lut_path={lut}", *QUICK, "--limit", "1"])
    entries = len(enumerate_ops(SearchSpace(40, 3, 3)))
    out = capsys.readouterr().out
    assert f"0 of {entries} entries were present, measured 1, {entries - 1} still missing" in out


def test_the_profiling_console_is_progress_lines_without_converter_lines(tmp_path):
    """Off a terminal: a progress line with an ETA, and none of the TFLite converter's per-operator
    `fully_quantize:` lines or TensorFlow banners between them."""
    lut = tmp_path / "host.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "micronas.profiling.profile", "mcu=host", "dataset=basicmotions",
         f"mcu.cost.lut_path={lut}", *QUICK, "--limit", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert "fully_quantize" not in out and "absl" not in out and "tensorflow" not in out.lower()
    lines = [line for line in out.splitlines() if line.startswith("profiling: ")]
    assert [line.split(" (")[0] for line in lines] == ["profiling: 1/2 entries", "profiling: 2/2 entries"]
    assert all(", ETA " in line for line in lines)
    assert "0 of 462 entries were present, measured 2, 460 still missing, 0 failed" in result.stdout
