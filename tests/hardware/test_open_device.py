"""`open_device` from real composed MCU configs: the in-process device, the virtual board over serial
for `mcu=host`, and the refusals (no port, unknown kind, a board that is not the configured one)."""

import pytest

from micronas.errors import ConfigError
from micronas.hardware.errors import DeviceError
from micronas.hardware.local_device import LocalTflmDevice
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
        assert device.load(tiny_models["ok"]).arena_used_bytes == LocalTflmDevice().load(tiny_models["ok"]).arena_used_bytes
        assert device.run(warmups=1, repeats=3).repeats == 3


def test_a_board_that_is_not_the_configured_one_is_refused(compose, virtual_board):
    mcu = compose("mcu=nucleo_l552").mcu
    with pytest.raises(DeviceError, match="the device reports board='host' but mcu=nucleo_l552 says "
                                          "board='NUCLEO-L552ZE-Q'"):
        open_device(mcu, port=virtual_board.path)
    with SerialDevice(virtual_board.path, 921600):  # the refused device released its port
        pass


def test_a_serial_mcu_without_a_port_and_an_unknown_kind_are_config_errors(compose):
    with pytest.raises(ConfigError, match="mcu.device.port is not set for mcu=portenta_h7; pass the board's serial"):
        open_device(compose("mcu=portenta_h7").mcu)
    with pytest.raises(ConfigError, match="mcu.device.kind=usb is not valid; valid kinds are: local, serial"):
        open_device(compose("mcu=host", "mcu.device.kind=usb").mcu)
