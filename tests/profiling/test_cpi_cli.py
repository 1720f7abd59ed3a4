"""`python -m micronas.profiling.cpi`: a CPI fitted from a board's measured records and a QEMU LUT, a model's
QEMU counts converted and labelled as estimates, and bad input refused in one sentence."""

import json

import pytest

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable, LutEntry
from micronas.cost.predictor import op_group
from micronas.cost.reference_records import load_records, record_entry
from micronas.profiling.cpi import main

L552_HZ = 80_000_000
RATIO = {"conv_temporal": 1.5, "conv_sensor": 2.0, "conv_pointwise": 2.5, "add": 4.0, "mean": 3.0,
         "softmax": 5.0}  # board cycles per QEMU instruction of each group, as the test's LUT is built


def measured(reference_dir, per_group=6):
    """Up to `per_group` measured L552 ops of each predictor group with their cycles, one entry per op."""
    entries, groups = {}, {}
    for source, record in load_records(reference_dir / "nucleo_l552"):
        entry = record_entry(record, L552_HZ, source)
        group = op_group(entry.op)
        if entry.ok and entry.op.key() not in entries and groups.get(group, 0) < per_group:
            entries[entry.op.key()] = entry
            groups[group] = groups.get(group, 0) + 1
    return list(entries.values())


def qemu_lut(path, entries, mcu="qemu_m33"):
    """A QEMU LUT whose instruction counts are each op's measured cycles divided by its group's RATIO."""
    table = LookupTable(path, DeviceIdentity.from_mcu(load_config("search", [f"mcu={mcu}"]).mcu))
    for entry in entries:
        instructions = entry.latency_cycles / RATIO[op_group(entry.op)]
        table.append(LutEntry(op=entry.op, samples_ms=(instructions / 1e6,)))
    return path


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    return err


def test_the_fit_recovers_each_groups_ratio_and_a_model_converts_to_the_measured_cycles(
        reference_dir, tmp_path, capsys):
    from micronas.profiling.profile import single_op_tflite

    entries = measured(reference_dir)
    lut = qemu_lut(tmp_path / "qemu.jsonl", entries)
    model = tmp_path / "op.tflite"
    model.write_bytes(single_op_tflite(entries[0].op))
    out = tmp_path / "cpi.json"
    main(["--board", "nucleo_l552", "--qemu-lut", str(lut), "--records", str(reference_dir / "nucleo_l552"),
          str(model), "--out", str(out)])
    result = json.loads(out.read_text())
    groups = {op_group(e.op) for e in entries}
    assert len(groups) >= 4
    assert {g: result["cpi"][g] for g in groups} == pytest.approx({g: RATIO[g] for g in groups})
    assert result["fitted_ops"]["*"] == len(entries)
    # a fitted op's QEMU count converts back to the cycles the board measured for it
    converted = result["model"]
    assert converted["estimated_cycles"] == pytest.approx([entries[0].latency_cycles])
    assert converted["estimated_ms"] == pytest.approx([1000 * entries[0].latency_cycles / L552_HZ])
    printed = capsys.readouterr().out
    assert "cycles per instruction, fitted on" in printed and "QEMU instructions" in printed
    assert "ESTIMATED NUCLEO-L552ZE-Q cycles" in printed and "not a measurement" in printed
    assert "instructions (QEMU count) -> estimated" in printed
    partial = str(qemu_lut(tmp_path / "partial.jsonl", entries[1:]))
    assert f"1 of the 1 ops of op.tflite are not in {partial} (the first is {entries[0].op.key()})" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", partial, "--records",
        str(reference_dir / "nucleo_l552"), str(model))


def test_a_measured_qemu_run_is_converted_op_by_op(reference_dir, tmp_path, capsys):
    from micronas.profiling.profile import single_op_tflite

    entries = measured(reference_dir)
    lut = qemu_lut(tmp_path / "qemu.jsonl", entries)
    op = entries[0].op
    model = tmp_path / "op.tflite"
    model.write_bytes(single_op_tflite(op))
    record = {"device": {"board": "QEMU-mps2-an505", "core": "cortex-m33"},
              "measurement": {"tick_unit": "instructions", "op_ticks": [[1000], [1002], [998]]}}
    measurement = tmp_path / "measurement.json"
    measurement.write_text(json.dumps(record))
    out = tmp_path / "cpi.json"
    main(["--board", "nucleo_l552", "--qemu-lut", str(lut), "--records", str(reference_dir / "nucleo_l552"),
          str(model), "--measurement", str(measurement), "--out", str(out)])
    converted = json.loads(out.read_text())["model"]
    assert converted["qemu_instructions"] == [1000.0]
    assert converted["estimated_cycles"] == pytest.approx([1000 * RATIO[op_group(op)]])
    assert f"QEMU instruction counts from {measurement}" in capsys.readouterr().out

    record["measurement"]["tick_unit"] = "cycles"
    measurement.write_text(json.dumps(record))
    err = run(capsys, "--board", "nucleo_l552", "--qemu-lut", str(lut), "--records",
              str(reference_dir / "nucleo_l552"), str(model), "--measurement", str(measurement))
    assert "was timed in cycles on QEMU-mps2-an505, not counted in QEMU" in err


def test_bad_input_is_refused_in_one_sentence(reference_dir, tmp_path, capsys):
    records = str(reference_dir / "nucleo_l552")
    entries = measured(reference_dir, 1)
    lut = str(qemu_lut(tmp_path / "qemu.jsonl", entries))
    assert "mcu=nucleo_x is not a known mcu" in run(
        capsys, "--board", "nucleo_x", "--qemu-lut", lut, "--records", records)
    assert "--board qemu_m33 is not a measured Cortex-M board" in run(
        capsys, "--board", "qemu_m33", "--qemu-lut", lut, "--records", records)
    m4_lut = str(qemu_lut(tmp_path / "m4.jsonl", entries, "qemu_m4"))
    assert "counts cortex-m4f instructions but the board is a cortex-m33" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", m4_lut, "--records", records)
    board_lut = tmp_path / "board.jsonl"
    table = LookupTable(board_lut, DeviceIdentity.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu))
    table.append(entries[0])
    assert "was measured on NUCLEO-L552ZE-Q, not counted in QEMU" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", str(board_lut), "--records", records)
    empty = str(qemu_lut(tmp_path / "empty.jsonl", []))
    assert "no operator of" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", empty, "--records", records)
    assert f"the model file {tmp_path / 'no.tflite'} does not exist" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", lut, "--records", records,
        str(tmp_path / "no.tflite"))
    assert "--measurement m.json needs the MODEL" in run(
        capsys, "--board", "nucleo_l552", "--qemu-lut", lut, "--records", records, "--measurement", "m.json")


def test_the_boards_own_lut_in_cycles_serves_as_its_measured_ops(reference_dir, tmp_path, capsys):
    entries = measured(reference_dir)
    lut = str(qemu_lut(tmp_path / "qemu.jsonl", entries))
    board_lut = tmp_path / "nucleo_l552.jsonl"
    table = LookupTable(board_lut, DeviceIdentity.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu))
    for entry in entries:
        table.append(entry)
    out = tmp_path / "cpi.json"
    main(["--board", "nucleo_l552", "--qemu-lut", lut, "--records", str(board_lut), "--out", str(out)])
    cpi = json.loads(out.read_text())["cpi"]
    assert {g: cpi[g] for g in RATIO if g in cpi} == pytest.approx({g: RATIO[g] for g in RATIO if g in cpi})
    m4_lut = str(qemu_lut(tmp_path / "m4.jsonl", entries, "qemu_m4"))
    assert f"{board_lut} was measured on NUCLEO-L552ZE-Q, not on NUCLEO-F446RE" in run(
        capsys, "--board", "nucleo_f446re", "--qemu-lut", m4_lut, "--records", str(board_lut))
