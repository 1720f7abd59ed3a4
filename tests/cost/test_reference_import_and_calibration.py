"""Reference records -> OpSpecs and LUT entries; import CLI; calibration and the shipped coefficients."""

import copy

import pytest

from micronas.config import load_config
from micronas.cost import calibrate, import_records
from micronas.cost.calibrate import load_entries, split_holdout, summarise
from micronas.cost.lut import DeviceIdentity, read_lut
from micronas.cost.predictor import LatencyPredictor
from micronas.cost.reference_records import record_entry, record_op
from micronas.errors import DataError
from micronas.space.opspec import OpSpec

CONV_RECORD = {
    "flashSize": 1416,
    "memory": {"kTensorAreaUsed": "4116"},
    "modelConfig": {
        "name": "conv2d_2074",
        "activation": "relu",
        "filters": 4,
        "input_shape": [1, 128, 9, 1],
        "output_shape": [1, 64, 9, 4],
        "kernel_size": [3, 1],
        "strides": [2, 1],
        "padding": "same",
    },
    "timing": [
        {"cpuCycles": 363013, "type": 1},
        {"cpuCycles": 351463, "type": 255},
        {"cpuCycles": 350847, "type": 3},
    ],
}


def test_every_reference_layer_kind_maps_to_an_opspec():
    assert record_op(CONV_RECORD["modelConfig"]) == OpSpec(
        "conv2d", (128, 9, 1), (64, 9, 4), (3, 1), (2, 1), "same", "relu"
    )
    add = {"name": "add_127", "input_shape": [[1, 16, 5, 8], [1, 16, 5, 8]], "output_shape": [1, 16, 5, 8]}
    assert record_op(add) == OpSpec("add", (16, 5, 8), (16, 5, 8))
    pool = {"name": "global_average_pooling2d", "input_shape": [1, 16, 8, 10], "output_shape": [1, 10]}
    assert record_op(pool) == OpSpec("mean", (16, 8, 10), (10,))
    assert record_op({"name": "softmax", "input_shape": [1, 10], "output_shape": [1, 10]}) == OpSpec(
        "softmax", (10,), (10,)
    )
    linear = dict(CONV_RECORD["modelConfig"], activation="linear")
    assert record_op(linear).activation == "none"


def test_cycles_become_ms_with_the_config_clock_and_failures_stay_failures():
    entry = record_entry(CONV_RECORD, 80_000_000, "a.json#0")
    assert entry.latency_cycles == 350847
    assert entry.latency_ms == pytest.approx(350847 / 80_000)
    assert entry.invoke_ms == pytest.approx(363013 / 80_000)  # the outer timer around Invoke()
    assert entry.arena_bytes == 4116 and entry.flash_bytes == 1416
    failed = {k: v for k, v in CONV_RECORD.items() if k not in ("timing", "memory")} | {"error": "FLASHERROR"}
    assert record_entry(failed, 80_000_000, "a.json#1").status == "failed:FLASHERROR"
    broken = copy.deepcopy(CONV_RECORD)
    del broken["timing"][2]
    with pytest.raises(DataError, match="record a.json#2 is not a measured single-op record"):
        record_entry(broken, 80_000_000, "a.json#2")


def test_import_cli_fills_the_lut_once_and_refuses_another_device(reference_dir, tmp_path, capsys):
    lut = tmp_path / "l552.jsonl"
    args = [str(reference_dir / "nucleo_l552"), "mcu=nucleo_l552", f"mcu.cost.lut_path={lut}"]
    import_records.main(args)
    assert "added 510 entries, skipped 0" in capsys.readouterr().out
    import_records.main(args)
    assert "added 0 entries, skipped 510" in capsys.readouterr().out
    identity, entries = read_lut(lut)
    assert identity.board == "NUCLEO-L552ZE-Q" and len(entries) == 510
    with pytest.raises(SystemExit) as stop:
        import_records.main(
            [str(reference_dir / "nucleo_l552"), "mcu=nucleo_f446re", f"mcu.cost.lut_path={lut}"]
        )
    assert stop.value.code == 2
    assert "was measured on another device" in capsys.readouterr().err


def test_calibrate_cli_reports_holdout_cv_and_learning_curve(reference_dir, capsys):
    calibrate.main(["mcu=nucleo_l552", "--records", str(reference_dir / "nucleo_l552")])
    out = capsys.readouterr().out
    for heading in (
        "== features: plain",
        "== features: extended",
        "-- hold-out",
        "-- 5-fold CV",
        "-- largest 5-fold CV residuals",
        "-- learning curve",
        "== FLOPs proxy",
    ):
        assert heading in out
    assert "  10 entries" in out or "  12 entries" in out


@pytest.mark.parametrize("mcu_name", ["nucleo_l552", "nucleo_f446re"])
def test_shipped_coefficients_meet_the_floors_on_their_held_out_entries(reference_dir, mcu_name):
    """Recompute the held-out error of the coefficients in conf/mcu from the raw records."""
    mcu = load_config("search", [f"mcu={mcu_name}"]).mcu
    shipped = LatencyPredictor.from_config(mcu.cost.predictor, mcu.clock_hz)
    entries = load_entries(mcu, str(reference_dir / mcu_name))
    _, heldout = split_holdout(entries, 0.2, seed=0)
    summary = summarise(heldout, {e.op.key(): shipped.predict_ms(e.op) for e in heldout})["overall"]
    assert summary["mape_pct"] == pytest.approx(mcu.cost.predictor.heldout.mape_pct, abs=0.01)
    assert summary["r2"] == pytest.approx(mcu.cost.predictor.heldout.r2, abs=1e-4)
    assert summary["mape_pct"] <= 10.0 and summary["r2"] >= 0.98


def test_calibrate_refuses_a_bad_holdout_share(capsys):
    with pytest.raises(SystemExit):
        calibrate.main(["mcu=nucleo_l552", "--holdout", "1.5"])
    assert "--holdout 1.5 is not valid" in capsys.readouterr().err


def test_an_identity_is_what_the_importer_writes(reference_dir, tmp_path):
    mcu = load_config("search", ["mcu=nucleo_f446re", f"mcu.cost.lut_path={tmp_path / 'f.jsonl'}"]).mcu
    added, _, _ = import_records.import_records(
        str(reference_dir / "nucleo_f446re" / "ucihar_128x9_b.json"), mcu
    )
    identity, _ = read_lut(tmp_path / "f.jsonl")
    assert added == 10 and identity == DeviceIdentity.from_mcu(mcu)
