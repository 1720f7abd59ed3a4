"""A board micronas has never seen, from its measured single-op records to a search-ready cost model: import
(a folder of run sub-folders, one malformed record), calibrate, fit the arena, all stored in the user config
directory that Hydra composes before the package's `conf/`.

The records are generated here: cycles from a known formula, and arenas from a hidden layout that holds
44 bytes more per model than the derived 32-bit layout (the shipped layout under-predicts every record).
"""

import copy
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from micronas.config import CONF_DIR, load_config
from micronas.cost import arena_fit, calibrate, import_records
from micronas.cost.arena_fit import ArenaSample, check_arena_model, errors, fit_overrides
from micronas.cost.board_settings import store_board_settings
from micronas.cost.enumerate import enumerate_ops
from micronas.cost.graph import op_graph, single_op_graph
from micronas.cost.lut import read_lut
from micronas.cost.memory import BUILDS, estimate_arena, tflm_build
from micronas.cost.model import CostModel
from micronas.cost.reference_records import read_entries, record_entry
from micronas.errors import DataError, MicronasError
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace
from micronas.user_conf import ENV

REPO = Path(__file__).resolve().parents[2]
HIDDEN = tflm_build("32bit-cmsis-nn", {"fixed_bytes": BUILDS["32bit-cmsis-nn"].fixed_bytes + 44})
BOARD = """\
name: my_board
board: My Board
core: cortex-m4f
clock_hz: 100000000
sram_bytes: 262144
flash_bytes: 1048576
word_bits: 32
runtime: tflite-micro
kernel_library: cmsis-nn
latency_source: on-device-profile
device: {kind: serial, port: null, baud: 921600, run_timeout_s: 60}
cost:
  lut_path: ${data_dir}/lut/my_board.jsonl
  runtime_version: null
  arena:
    build: 32bit-cmsis-nn
"""
LAYERS = {"conv2d": "conv2d", "add": "add", "mean": "global_average_pooling2d", "softmax": "softmax"}
OP_TIMING = {"conv2d": 3, "add": 0, "mean": 40, "softmax": 25}


def true_cycles(op) -> int:
    """The generator's cycles: a known per-kind formula."""
    return {"conv2d": 3 * op.macs + 40 * op.output_elements + 500, "add": 90 * op.output_elements + 2600,
            "mean": 150 * op.input_elements, "softmax": 1000 * op.output_elements}[op.kind]


def record(op, index: int) -> dict:
    """One measured record in the reference implementation's format."""
    config = {"name": f"{LAYERS[op.kind]}_{index}", "input_shape": [1, *op.input_shape],
              "output_shape": [1, *op.output_shape]}
    if op.kind == "conv2d":
        config |= {"kernel_size": list(op.kernel), "strides": list(op.stride), "padding": op.padding,
                   "activation": "relu" if op.activation == "relu" else "linear",
                   "filters": op.output_shape[-1]}
    if op.kind == "add":
        config["input_shape"] = [[1, *op.input_shape]] * 2
    cycles = true_cycles(op)
    return {"flashSize": 2000 + index, "memory": {"kTensorAreaUsed": str(
                estimate_arena(single_op_graph(op, add_inputs=2), HIDDEN).arena_bytes)},
            "modelConfig": config,
            "timing": [{"type": 1, "cpuCycles": cycles + 9000}, {"type": 255, "cpuCycles": cycles + 600},
                       {"type": OP_TIMING[op.kind], "cpuCycles": cycles}]}


@pytest.fixture
def new_board(tmp_path, monkeypatch):
    """A user config directory holding `mcu/my_board.yaml`, and a folder of two runs' records.json (one
    record without its kernel timing) plus an unrelated JSON file; returns (records folder, good ops)."""
    conf = tmp_path / "user-conf"
    (conf / "mcu").mkdir(parents=True)
    (conf / "mcu" / "my_board.yaml").write_text(BOARD)
    monkeypatch.setenv(ENV, str(conf))
    ops = enumerate_ops(SearchSpace(32, 3, 4))
    records = [record(op, i) for i, op in enumerate(ops)]
    bad = records[2]
    assert bad["modelConfig"]["name"].startswith("conv2d")
    bad["timing"] = [t for t in bad["timing"] if t["type"] != 3]
    folder = tmp_path / "records"
    half = len(records) // 2
    for run, part in (("run_0", records[:half]), ("run_1", records[half:])):
        (folder / run).mkdir(parents=True)
        (folder / run / "records.json").write_text(json.dumps(part))
    (folder / "run_1" / "notes.json").write_text(json.dumps({"board": "my board"}))
    return folder, [op for i, op in enumerate(ops) if i != 2]


def conf_hashes() -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (CONF_DIR / "mcu").glob("*.yaml")}


def test_a_new_board_is_imported_calibrated_and_arena_fitted_from_records(new_board, tmp_path, capsys,
                                                                          caplog):
    folder, good_ops = new_board
    data = f"data_dir={tmp_path / 'data'}"
    shipped = conf_hashes()

    with caplog.at_level(logging.WARNING):
        import_records.main([str(folder), "mcu=my_board", data,
                             "mcu.cost.runtime_version='fw 1.2 (TFLM abc)'"])
    out = capsys.readouterr().out
    assert f"added {len(good_ops)} entries, skipped 0 already present, 1 malformed records skipped" in out
    warnings = [r.getMessage() for r in caplog.records]
    assert any("run_0/records.json#2" in w and "no timing of type 3 (the conv2d kernel's cycles)" in w
               for w in warnings)
    assert any("run_1/notes.json holds a dict" in w for w in warnings)
    _, entries = read_lut(tmp_path / "data" / "lut" / "my_board.jsonl")
    assert sorted(e.op.key() for e in entries) == sorted(op.key() for op in good_ops)
    assert {e.op.key(): e.latency_cycles for e in entries} == {op.key(): true_cycles(op) for op in good_ops}

    # the runtime version is stored; no later command repeats it
    assert load_config("search", ["mcu=my_board", data]).mcu.cost.runtime_version == "fw 1.2 (TFLM abc)"
    calibrate.main(["mcu=my_board", data, "--write"])
    out = capsys.readouterr().out
    assert "-- hold-out" in out and "wrote the extended predictor (held-out MAPE" in out

    caplog.clear()
    with caplog.at_level(logging.WARNING):  # what a search on the board says before the fit
        check_arena_model(CostModel.from_mcu(load_config("search", ["mcu=my_board", data]).mcu))
    assert f"under-predicts {len(good_ops)} of the {len(good_ops)} arenas its table measured (by up to" \
        in caplog.text and "arena_fit mcu=my_board --write" in caplog.text
    arena_fit.main(["mcu=my_board", data])
    check = capsys.readouterr().out
    assert f"UNDER-PREDICTS {len(good_ops)}" in check.split("fitted on")[0]
    assert "held-out:" in check
    arena_fit.main(["mcu=my_board", data, "--write"])
    assert "wrote cost.arena.overrides into" in capsys.readouterr().out

    mcu = load_config("search", ["mcu=my_board", data]).mcu
    assert mcu.cost.predictor.heldout.mape_pct < 5.0
    model = CostModel.from_mcu(mcu)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_arena_model(model)
    assert "under-predicts" not in caplog.text
    residuals = [estimate_arena(single_op_graph(op, 2), model.build).arena_bytes
                 - estimate_arena(single_op_graph(op, 2), HIDDEN).arena_bytes for op in good_ops]
    assert min(residuals) >= 0 and max(residuals) <= 16
    for seed in range(5):  # whole networks of the board: never below the hidden layout's arena either
        arch = Architecture.random(SearchSpace(32, 3, 4), np.random.default_rng(seed))
        assert model.arena(arch).arena_bytes >= estimate_arena(op_graph(arch), HIDDEN).arena_bytes
    assert conf_hashes() == shipped  # nothing written into the package's conf/
    assert not (CONF_DIR / "mcu" / "my_board.yaml").exists()


def test_the_user_directory_replaces_a_shipped_board_in_hydra_composition(tmp_path, monkeypatch):
    conf = tmp_path / "user-conf"
    (conf / "mcu").mkdir(parents=True)
    text = (CONF_DIR / "mcu" / "nucleo_l552.yaml").read_text()
    text = text.replace("clock_hz: 80000000", "clock_hz: 110000000")
    (conf / "mcu" / "nucleo_l552.yaml").write_text(text)
    (conf / "mcu" / "my_board.yaml").write_text(BOARD)
    monkeypatch.setenv(ENV, str(conf))
    assert load_config("search", ["mcu=nucleo_l552"]).mcu.clock_hz == 110_000_000
    done = subprocess.run([sys.executable, "search.py", "mcu=my_board", "--cfg", "job"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: my_board" in done.stdout and "board: My Board" in done.stdout
    monkeypatch.setenv(ENV, str(tmp_path / "absent"))
    assert load_config("search", ["mcu=nucleo_l552"]).mcu.clock_hz == 80_000_000


def test_a_board_with_neither_table_nor_predictor_points_to_import_and_profile(new_board, tmp_path):
    mcu = load_config("search", ["mcu=my_board", f"data_dir={tmp_path}", "mcu.cost.runtime_version=x"]).mcu
    arch = Architecture.random(SearchSpace(32, 3, 4), np.random.default_rng(0))
    with pytest.raises(MicronasError, match="micronas.cost.import_records PATH mcu=my_board") as error:
        CostModel.from_mcu(mcu).predict(arch)
    assert "micronas.profiling.profile mcu=my_board" in str(error.value)


GOOD = record(enumerate_ops(SearchSpace(32, 3, 4))[0], 0)


def _without(path: str) -> dict:
    broken = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = broken
    for key in parents:
        target = target[key]
    if isinstance(target, list):
        target[:] = [t for t in target if t["type"] != int(last)]
    else:
        del target[last]
    return broken


@pytest.mark.parametrize("missing, sentence", [
    ("modelConfig", "it has no modelConfig object"),
    ("modelConfig.kernel_size", "its modelConfig has no 'kernel_size'"),
    ("timing.3", "it has no timing of type 3 (the conv2d kernel's cycles)"),
    ("timing.1", "it has no timing of type 1 (the Invoke timer)"),
    ("memory.kTensorAreaUsed", "it has no memory.kTensorAreaUsed (the arena)"),
])
def test_a_malformed_record_is_refused_naming_what_it_lacks(missing, sentence):
    with pytest.raises(DataError) as error:
        record_entry(_without(missing), 80_000_000, "x.json#4")
    assert str(error.value) == f"record x.json#4 is not a measured single-op record: {sentence}."


def test_reading_skips_the_malformed_record_and_keeps_the_rest(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps([GOOD, _without("timing.3"), GOOD | {"error": "FLASHERROR"}]))
    entries, skipped = read_entries(tmp_path / "r.json", 80_000_000)
    assert skipped == 1 and [e.status for e in entries] == ["ok", "failed:FLASHERROR"]


def test_the_arena_fit_never_under_predicts_the_reference_boards(reference_dir):
    """On the published measurements, starting from the derived layout (which under-predicts them all)."""
    for board in ("nucleo_l552", "nucleo_f446re"):
        entries, _ = read_entries(reference_dir / board, 80_000_000)
        samples = [ArenaSample(e.op, 2, e.arena_bytes) for e in entries if e.ok]
        assert errors(samples, tflm_build("32bit-cmsis-nn")).max() < 0
        fitted = errors(samples, tflm_build("32bit-cmsis-nn", fit_overrides(samples, "32bit-cmsis-nn")))
        assert fitted.min() >= 0 and fitted.max() <= 16, board


def test_settings_of_a_shipped_board_go_to_a_user_copy_that_composes_like_the_original(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "user-conf"))  # does not exist yet
    shipped, before = conf_hashes(), load_config("search", ["mcu=nucleo_f446re"]).mcu
    path = store_board_settings("nucleo_f446re", {"cost.runtime_version": "fw 9", "cost.arena.x": 1})
    after = load_config("search", ["mcu=nucleo_f446re"]).mcu
    assert path == tmp_path / "user-conf" / "mcu" / "nucleo_f446re.yaml" and conf_hashes() == shipped
    expected = OmegaConf.to_container(before)
    expected["cost"]["runtime_version"] = "fw 9"
    expected["cost"]["arena"]["x"] = 1
    assert OmegaConf.to_container(after) == expected
    store_board_settings("nucleo_f446re", {"cost.arena.overrides": {"fixed_bytes": 300}})
    store_board_settings("nucleo_f446re", {"cost.arena.overrides": {"node_bytes": 40}})  # replaces, no merge
    assert OmegaConf.to_container(load_config("search", ["mcu=nucleo_f446re"]).mcu.cost.arena.overrides) == {
        "node_bytes": 40}
