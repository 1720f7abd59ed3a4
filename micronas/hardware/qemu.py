"""`QemuDevice`: the micronas firmware (hardware/firmware/qemu) run by `qemu-system-arm` on an MPS2 board,
its UART on a host pty, driven over the serial protocol as a `SerialDevice`; QEMU is stopped on close.

QEMU runs with `-icount shift=0,sleep=off`: one instruction is one nanosecond of virtual time, so the
firmware's timer counts executed instructions, deterministically. That is what its ticks are
(`tick_unit="instructions"`): not cycles, and not a board's time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

from micronas.firmware.build import build
from micronas.hardware.errors import DeviceError
from micronas.hardware.serial_device import SerialDevice

MACHINES = {"m33": "mps2-an505", "m4": "mps2-an386", "m7": "mps2-an500"}
START_TIMEOUT_S = 30.0
# QEMU is a process of a shared host: on a loaded machine it answers a frame in seconds, not in a board's
# half second (a 0.5 s reply timeout ended a LUT profile over QEMU on a 2-core machine under load).
REPLY_TIMEOUT_S = 5.0
_PTY = re.compile(r"char device redirected to (/dev/pts/\d+)")


def qemu_command(machine: str, elf: str | Path) -> list[str]:
    """The QEMU command line of a board: UART0 on a new pty, the monitor on stdin, deterministic icount."""
    return ["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "stdio", "-serial", "pty",
            "-icount", "shift=0,sleep=off", "-semihosting-config", "enable=on,target=native",
            "-kernel", str(elf)]


class QemuBoard:
    """A running `qemu-system-arm` with the firmware: its pty path; `reset()` is a board reset."""

    def __init__(self, machine: str, elf: str | Path):
        if shutil.which("qemu-system-arm") is None:
            raise DeviceError("qemu-system-arm is not installed; install it with: apt-get install -y qemu-system-arm.")
        self.machine = machine
        self.process = subprocess.Popen(qemu_command(machine, elf), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.path = self._find_pty()

    def _find_pty(self) -> str:
        lines: list[str] = []
        found = threading.Event()

        def read():
            for line in self.process.stdout:
                lines.append(line.rstrip())
                if _PTY.search(line):
                    found.set()
                    break

        threading.Thread(target=read, daemon=True).start()
        if found.wait(START_TIMEOUT_S):
            match = next(m for m in map(_PTY.search, lines) if m)
            threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep the pipe drained
            return match.group(1)
        self.stop()
        said = " / ".join(lines[-3:]) or "nothing"
        raise DeviceError(f"qemu-system-arm -M {self.machine} gave no serial pty in {START_TIMEOUT_S:.0f} s "
                          f"(it said: {said}); check that this QEMU has the {self.machine} machine.")

    def reset(self) -> None:
        """Reset the machine (the firmware restarts, its session and model are gone), as a board's button."""
        self.process.stdin.write("system_reset\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class QemuDevice(SerialDevice):
    """The firmware for `core` (m33, m4, m7) on its QEMU board, built (or taken from the cache) first."""

    def __init__(self, core: str = "m33", sources: str | None = None, **serial_options):
        if core not in MACHINES:
            raise DeviceError(f"core={core} is not valid for a QEMU board; valid cores are: {', '.join(MACHINES)}.")
        options = {"reply_timeout_s": REPLY_TIMEOUT_S, **serial_options}
        self.firmware = build(core, sources)
        self.board = QemuBoard(MACHINES[core], self.firmware.elf)
        try:
            super().__init__(self.board.path, 921600, **options)
        except Exception:
            self.board.stop()
            raise

    def close(self) -> None:
        super().close()
        self.board.stop()
