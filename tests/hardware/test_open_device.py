"""`open_device` from real composed MCU configs: the in-process device, the virtual board over serial
for `mcu=host`, and the refusals (no port, unknown kind, a board that is not the configured one)."""

import json
import zlib

import pytest

from micronas.errors import ConfigError
from micronas.hardware.errors import DeviceError
from micronas.hardware.local_device import LocalTflmDevice
from micronas.hardware.measure import main as measure_main
from micronas.hardware.open import open_device
from micronas.hardware.serial_device import SerialDevice


def test_mcu_host_opens_the_in_process_device(compose, tiny_models):
    with open_device(compose("mcu=host").mcu) as device:
        assert isinstance(device, LocalTflmDevice)
        assert device.load(tiny_models["ok"]).n_ops == 4


def test_mcu_host_can_measure_on_the_virtual_board_over_serial(compose, virtual_board, tiny_models):
    mcu = compose("mcu=host", "mcu.device.kind=serial", f"mcu.device.port={virtual_board.path}").mcu
    with open_device(mcu) as device:
        assert isinstance(device, SerialDevice) and device.baud == 921600
        assert (
            device.load(tiny_models["ok"]).arena_used_bytes
            == LocalTflmDevice().load(tiny_models["ok"]).arena_used_bytes
        )
        assert device.run(warmups=1, repeats=3).repeats == 3


def test_a_board_that_is_not_the_configured_one_is_refused(compose, virtual_board):
    mcu = compose("mcu=nucleo_l552").mcu
    with pytest.raises(
        DeviceError, match="the device reports board='host' but mcu=nucleo_l552 says board='NUCLEO-L552ZE-Q'"
    ):
        open_device(mcu, port=virtual_board.path)
    with SerialDevice(virtual_board.path, 921600):  # the refused device released its port
        pass


def test_a_serial_mcu_without_a_port_and_an_unknown_kind_are_config_errors(compose):
    with pytest.raises(
        ConfigError, match="mcu.device.port is not set for mcu=portenta_h7; pass the board's serial"
    ):
        open_device(compose("mcu=portenta_h7").mcu)
    with pytest.raises(ConfigError, match="mcu.device.kind=usb is not valid; valid kinds are: local, serial"):
        open_device(compose("mcu=host", "mcu.device.kind=usb").mcu)


def test_measure_cli_writes_measurement_json_from_the_virtual_board(
    tmp_path, virtual_board, tiny_models, capsys
):
    model = tmp_path / "model_int8.tflite"
    model.write_bytes(tiny_models["ok"])
    out = tmp_path / "measurement.json"
    measure_main(
        [
            str(model),
            "mcu=host",
            "mcu.device.kind=serial",
            f"mcu.device.port={virtual_board.path}",
            f"data_dir={tmp_path}",
            "--repeats",
            "4",
            "--out",
            str(out),
        ]
    )
    record = json.loads(out.read_text())
    assert record["load"]["model_crc32"] == zlib.crc32(tiny_models["ok"])
    assert len(record["measurement"]["invoke_ticks"]) == 4 and record["measurement"]["latency_ms"] > 0
    assert record["device"]["firmware_build"].endswith("virtual board")
    assert len(record["timing"]["rounds_ms"]) == 9  # the host table's protocol (defaults: no table yet)
    out = capsys.readouterr().out
    assert "model_int8.tflite on host (micronas 0.1.0 virtual board): " in out
    assert "median of 9 round minima" in out


def test_measure_cli_refuses_a_missing_model_with_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        measure_main([str(tmp_path / "none.tflite"), "mcu=host"])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err.strip() == f"error: the model file {tmp_path / 'none.tflite'} does not exist."
    )
