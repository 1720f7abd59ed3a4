"""`open_device(mcu)`: the `Device` an MCU config names (`mcu.device`), checked against the config's
board identity, so that no measurement is taken on another board or at another clock (docs/method.md §7.3)."""

from __future__ import annotations

from micronas.errors import ConfigError
from micronas.hardware.device import Device, DeviceInfo
from micronas.hardware.errors import DeviceError

KINDS = ("local", "serial", "qemu")


def check_identity(info: DeviceInfo, mcu) -> None:
    """Refuse a device whose board, core or reported clock differs from the MCU config."""
    expected = {"board": mcu.board, "core": mcu.core}
    if mcu.clock_hz is not None:
        expected["core_clock_hz"] = int(mcu.clock_hz)
    for name, value in expected.items():
        found = getattr(info, name)
        if found != value:
            key = "clock_hz" if name == "core_clock_hz" else name
            raise DeviceError(
                f"the device reports {name}={found!r} but mcu={mcu.name} says {name}={value!r}; measure with "
                f"the board this config describes, or fix mcu.{key}."
            )


def open_device(mcu, port: str | None = None, baud: int | None = None) -> Device:
    """Open the device of `mcu` (a composed `cfg.mcu`); `port` and `baud` override `mcu.device`."""
    settings = mcu.get("device")
    if settings is None:
        raise ConfigError(f"mcu={mcu.name} has no device section; add device: {{kind: local|serial|qemu, ...}}.")
    kind = settings.kind
    if kind not in KINDS:
        raise ConfigError(f"mcu.device.kind={kind} is not valid; valid kinds are: {', '.join(KINDS)}.")
    if kind == "local":
        from micronas.hardware.local_device import LocalTflmDevice

        device = LocalTflmDevice()
    elif kind == "qemu":
        from micronas.hardware.qemu import QemuDevice

        device = QemuDevice(settings.core, settings.get("sources"), run_timeout_s=float(settings.run_timeout_s))
    else:
        from micronas.hardware.serial_device import SerialDevice

        port = port or settings.port
        if not port:
            raise ConfigError(
                f"mcu.device.port is not set for mcu={mcu.name}; pass the board's serial port, e.g. "
                "mcu.device.port=/dev/ttyACM0 (python -m serial.tools.list_ports lists them)."
            )
        device = SerialDevice(port, int(baud or settings.baud), run_timeout_s=float(settings.run_timeout_s))
    try:
        check_identity(device.info(), mcu)
    except DeviceError:
        device.close()
        raise
    return device
