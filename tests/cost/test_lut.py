"""The LUT file: header identity, append-only synced entries, half-written lines, other devices refused."""

import json
import logging
from dataclasses import replace

import pytest

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable, LutEntry, LutIdentityError, read_lut
from micronas.errors import ConfigError, DataError
from micronas.space.opspec import OpSpec

L552 = DeviceIdentity("NUCLEO-L552ZE-Q", "cortex-m33", 80_000_000, "tflite-micro", "v1", "cmsis-nn", 32)
CONV = OpSpec("conv2d", (16, 5, 8), (16, 5, 16), (3, 1), (1, 1), "same", "relu")
ADD = OpSpec("add", (16, 5, 16), (16, 5, 16))


def entry(op, samples_ms=(1.0, 1.2, 1.1, 5.0, 1.05), **extra):
    return LutEntry(op=op, samples_ms=samples_ms, source="test", **extra)


def test_entries_survive_a_reopen_with_their_statistics(tmp_path):
    path = tmp_path / "lut.jsonl"
    table = LookupTable(path, L552)
    table.append(entry(CONV, samples_cycles=(80_000, 96_000, 88_000, 400_000, 84_000), arena_bytes=3000))
    table.append(LutEntry(op=ADD, samples_ms=(), status="failed:FLASHERROR", source="test"))

    reopened = LookupTable(path, L552)
    got = reopened.get(CONV)
    assert got.latency_ms == pytest.approx(1.1)  # the median, not the mean (the 5.0 outlier)
    assert got.latency_cycles == 88_000
    assert got.spread_ms == pytest.approx(1.2 - 1.05)
    assert got.arena_bytes == 3000
    assert ADD in reopened and reopened.get(ADD) is None  # failed: known, never a cost
    header = json.loads(path.read_text().splitlines()[0])["header"]
    assert header["board"] == "NUCLEO-L552ZE-Q" and header["clock_hz"] == 80_000_000 and "created" in header


def test_each_append_is_on_disk_before_it_returns(tmp_path):
    path = tmp_path / "lut.jsonl"
    table = LookupTable(path, L552)
    table.append(entry(CONV))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["key"] == CONV.key()


def test_a_half_written_last_line_is_skipped_with_a_warning_and_cut_before_appending(tmp_path, caplog):
    path = tmp_path / "lut.jsonl"
    LookupTable(path, L552).append(entry(CONV))
    with open(path, "a") as handle:
        handle.write('{"key": "add|16x5x16|16x5x16|none", "op": {"kind": "ad')  # killed mid-write
    with caplog.at_level(logging.WARNING):
        table = LookupTable(path, L552)
    assert "half-written last line" in caplog.text
    assert len(table) == 1
    table.append(entry(ADD))
    identity, entries = read_lut(path)
    assert identity == L552 and {e.op for e in entries} == {CONV, ADD}


def test_a_later_line_for_the_same_op_wins(tmp_path):
    table = LookupTable(tmp_path / "lut.jsonl", L552)
    table.append(entry(CONV, samples_ms=(2.0,)))
    table.append(entry(CONV, samples_ms=(3.0,)))
    assert LookupTable(tmp_path / "lut.jsonl", L552).get(CONV).latency_ms == 3.0


def test_a_table_of_another_device_is_refused(tmp_path):
    path = tmp_path / "lut.jsonl"
    LookupTable(path, L552).append(entry(CONV))
    f446 = replace(L552, board="NUCLEO-F446RE", clock_hz=180_000_000)
    with pytest.raises(
        LutIdentityError, match=r"another device \(board: 'NUCLEO-F446RE' != 'NUCLEO-L552ZE-Q'"
    ):
        LookupTable(path, f446)
    with pytest.raises(LutIdentityError, match="clock_hz: 180000000 != 80000000"):
        read_lut(path, f446)


def test_entries_appended_under_a_second_device_header_are_refused(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    LookupTable(first, L552).append(entry(CONV))
    LookupTable(second, replace(L552, kernel_library="reference")).append(entry(ADD))
    merged = tmp_path / "merged.jsonl"
    merged.write_text(first.read_text() + second.read_text())
    with pytest.raises(LutIdentityError, match="line 3 starts entries of another device"):
        read_lut(merged)


def test_a_corrupt_line_inside_the_file_names_its_line(tmp_path):
    path = tmp_path / "lut.jsonl"
    LookupTable(path, L552).append(entry(CONV))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(DataError, match="line 2 is not a valid LUT line"):
        read_lut(path)
    path.write_text(lines[1] + "\n")
    with pytest.raises(DataError, match="does not start with a header line"):
        read_lut(path)


def test_identity_comes_from_the_mcu_config():
    mcu = load_config("search", ["mcu=nucleo_l552"]).mcu
    identity = DeviceIdentity.from_mcu(mcu)
    assert (
        identity.clock_hz == 80_000_000 and identity.word_bits == 32 and identity.kernel_library == "cmsis-nn"
    )
    host = DeviceIdentity.from_mcu(load_config("search", ["mcu=host"]).mcu)
    assert host.runtime_version.startswith("tflite-micro ") and host.word_bits == 64
    with pytest.raises(ConfigError, match="mcu.cost.runtime_version is null for portenta_h7"):
        DeviceIdentity.from_mcu(load_config("search", ["mcu=portenta_h7"]).mcu)


def test_latency_statistics():
    timed = entry(CONV)
    assert timed.latency("median") == pytest.approx(1.1)
    assert timed.latency("min") == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="latency statistic 'mean' is not valid"):
        timed.latency("mean")


F446 = replace(L552, board="NUCLEO-F446RE", core="cortex-m4", clock_hz=180_000_000)


def test_a_line_copied_from_another_devices_table_is_refused(tmp_path):
    LookupTable(tmp_path / "f446.jsonl", F446).append(entry(CONV))
    LookupTable(tmp_path / "l552.jsonl", L552).append(entry(ADD))
    copied = (tmp_path / "f446.jsonl").read_text().splitlines()[1]
    with open(tmp_path / "l552.jsonl", "a") as handle:
        handle.write(copied + "\n")
    expected = rf"l552.jsonl line 3 carries the device tag '{F446.tag()}', not this table's '{L552.tag()}'"
    with pytest.raises(LutIdentityError, match=expected + ": it was measured on another device"):
        read_lut(tmp_path / "l552.jsonl")


@pytest.mark.parametrize("line, reason", [
    (b"[1, 2]", "line 2 is a JSON list, not a LUT line"),
    (b'"text"', "line 2 is a JSON str, not a LUT line"),
    (b"\xff\xfe{}", "line 2 is not a valid LUT line ('utf-8' codec can't decode"),
    (b'{"latency": {"samples_ms": [NaN]}}', "line 2 is not a valid LUT line (NaN is not a measured value)"),
    (b'{"latency": {"samples_ms": [1e999]}}', "line 2 is not a valid LUT line (1e999 is not a measured"),
    (b'{"header": [1]}', "line 2 is not a valid LUT line"),
])
def test_lines_that_are_not_lut_entries_end_in_one_sentence_naming_the_line(tmp_path, line, reason):
    path = tmp_path / "lut.jsonl"
    LookupTable(path, L552)
    with open(path, "ab") as handle:
        handle.write(line + b"\n")
    with pytest.raises(DataError) as error:
        read_lut(path)
    assert reason in str(error.value) and "\n" not in str(error.value)


def test_a_table_of_the_older_format_without_device_tags_is_refused(tmp_path):
    path = tmp_path / "old.jsonl"
    header = {"format": "micronas-lut/1", **{k: v for k, v in vars(L552).items()}}
    path.write_text(json.dumps({"header": header}) + "\n" + json.dumps(entry(CONV).to_json()) + "\n")
    with pytest.raises(
        LutIdentityError, match="line 1 is not a micronas-lut/2 or micronas-lut/3 header .*profile again"
    ):
        read_lut(path)
