"""On-device LUT profiling over serial (`python -m micronas.profiling.profile`), against the virtual board:
entries are measured through the protocol, an unplugged board stops the run without recording failures,
and a run killed with SIGKILL resumes with no entry measured twice."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from micronas.config import load_config
from micronas.cost.enumerate import enumerate_ops
from micronas.cost.lut import DeviceIdentity, LookupTable, read_lut
from micronas.hardware.errors import LinkError
from micronas.hardware.open import open_device
from micronas.profiling import profile
from micronas.space.searchspace import SearchSpace

from .conftest import VIRTUAL_BOARD, BoardProcess

QUICK = ["--repeats", "3", "--warmups", "1", "--rounds", "3", "--batch", "4"]


def serial_overrides(port: str, lut) -> list[str]:
    return [
        "mcu=host",
        "dataset=basicmotions",
        "mcu.device.kind=serial",
        f"mcu.device.port={port}",
        f"mcu.cost.lut_path={lut}",
    ]


def test_the_profiler_measures_entries_over_the_virtual_board(tmp_path, virtual_board, capsys):
    lut = tmp_path / "host.jsonl"
    profile.main([*serial_overrides(virtual_board.path, lut), *QUICK, "--limit", "3"])
    assert "0 of 462 entries were present, measured 3, 459 still missing, 0 failed" in capsys.readouterr().out
    identity, entries = read_lut(lut)
    assert identity.board == "host" and len(entries) == 3
    for entry in entries:
        assert entry.ok and len(entry.samples_ms) == 3 and entry.invoke_ms > entry.latency_ms > 0
        assert entry.arena_bytes > 0 and entry.flash_bytes > 0


def test_an_unplugged_board_stops_the_profile_without_recording_failures(tmp_path):
    board = BoardProcess(VIRTUAL_BOARD)
    try:
        cfg = load_config("search", serial_overrides(board.path, tmp_path / "host.jsonl"))
        ops = enumerate_ops(SearchSpace.from_config(cfg))
        table = LookupTable(cfg.mcu.cost.lut_path, DeviceIdentity.from_mcu(cfg.mcu))
        with open_device(cfg.mcu) as device:
            assert profile.profile_ops(ops, device, table, warmups=1, repeats=3, limit=2) == 2
            board.proc.kill()  # the cable is pulled between two entries
            board.proc.wait()
            with pytest.raises(LinkError, match="was the board unplugged"):
                profile.profile_ops(ops, device, table, warmups=1, repeats=3, limit=2)
    finally:
        board.stop()
    _, entries = read_lut(tmp_path / "host.jsonl")
    assert len(entries) == 2 and all(e.ok for e in entries)  # nothing recorded as failed: resumable


@pytest.mark.slow
def test_a_profile_killed_mid_way_resumes_with_no_entry_measured_twice(tmp_path, virtual_board):
    lut = tmp_path / "host.jsonl"
    command = [
        sys.executable,
        "-m",
        "micronas.profiling.profile",
        *serial_overrides(virtual_board.path, lut),
        *QUICK,
    ]
    process = subprocess.Popen(
        [*command, "--limit", "30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and (not lut.exists() or len(lut.read_text().splitlines()) < 6):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # killed mid-run, with the port open and an entry in flight
    process.wait()
    _, before = read_lut(lut)
    assert 5 <= len(before) < 30
    subprocess.run([*command, "--limit", "10"], check=True, capture_output=True)
    _, after = read_lut(lut)
    keys = [json.loads(line)["key"] for line in lut.read_text().splitlines()[1:]]
    assert len(keys) == len(set(keys)) == len(after) == len(before) + 10
    assert [e.to_json() for e in after[: len(before)]] == [e.to_json() for e in before]


@pytest.mark.slow
def test_the_full_lut_of_a_bundled_dataset_over_the_virtual_board(tmp_path, virtual_board, capsys):
    lut = tmp_path / "host.jsonl"
    profile.main([*serial_overrides(virtual_board.path, lut), *QUICK])
    assert "0 of 462 entries were present, measured 462, 0 still missing, 0 failed" in capsys.readouterr().out
    _, entries = read_lut(lut)
    assert len({e.op.key() for e in entries}) == 462 and all(e.ok for e in entries)
