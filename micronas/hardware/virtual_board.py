"""The virtual board: `python -m micronas.hardware.virtual_board` opens a pseudo-terminal, prints its
path on the first line of stdout, and serves the micronas protocol on it, running uploaded models in
tflite-micro and timing them on the host clock (whole Invokes only: the tflite-micro Python interpreter
has no per-operator profiler hook, so RESULT carries no per-operator ticks).

A pseudo-terminal has no baud rate. The board paces the bytes it sends and accounts for the bytes it
receives at the rate the host set on the port (read from the port's termios settings), or at `--baud`.

Faults for tests are requested one per line on stdin; each is acknowledged with `ok <line>` on stdout:

    drop-reply N       the next reply loses N bytes from its middle
    drop-request N     the next request loses N bytes after its header
    corrupt-reply      the next reply has one CRC bit flipped
    corrupt-request    the next request has one bit flipped
    stall SECONDS      the next request is answered SECONDS late
    reset-on-run [N]   the next N RUNs (default 1) restart the board instead of answering
"""

from __future__ import annotations

import argparse
import os
import selectors
import sys
import termios
import time
import tty
from dataclasses import dataclass
from typing import TYPE_CHECKING

from micronas import __version__
from micronas.errors import ConfigError, exit_on_user_error
from micronas.hardware import protocol as p

if TYPE_CHECKING:
    from micronas.hardware.board_session import BoardSession

_BAUDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (
        1200,
        2400,
        4800,
        9600,
        19200,
        38400,
        57600,
        115200,
        230400,
        460800,
        500000,
        576000,
        921600,
        1000000,
        1152000,
        1500000,
        2000000,
        2500000,
        3000000,
        3500000,
        4000000,
    )
    if hasattr(termios, f"B{rate}")
}
_TX_SLICE_BYTES = 64
FAULTS = ("drop-reply", "drop-request", "corrupt-reply", "corrupt-request", "stall", "reset-on-run")


@dataclass
class Faults:
    drop_reply: int = 0
    drop_request: int = 0
    corrupt_reply: bool = False
    corrupt_request: bool = False
    stall_s: float = 0.0
    reset_on_run: int = 0

    def arm(self, line: str) -> None:
        """Arm the fault a console line names; raises ValueError for an unknown or malformed one."""
        name, *args = line.split()
        takes = {"drop-reply": (1,), "drop-request": (1,), "stall": (1,), "reset-on-run": (0, 1)}.get(
            name, (0,)
        )
        if name not in FAULTS or len(args) not in takes:
            raise ValueError(
                f"{line!r} is not a fault; valid: drop-reply N, drop-request N, corrupt-reply, "
                "corrupt-request, stall SECONDS, reset-on-run [N]"
            )
        if name == "drop-reply":
            self.drop_reply = int(args[0])
        elif name == "drop-request":
            self.drop_request = int(args[0])
        elif name == "stall":
            self.stall_s = float(args[0])
        elif name == "reset-on-run":
            self.reset_on_run = int(args[0]) if args else 1
        else:
            setattr(self, name.replace("-", "_"), True)


class VirtualBoard:
    """A `BoardSession` behind a pseudo-terminal, with serial pacing and injectable faults."""

    def __init__(self, session: BoardSession, baud: int | None = None):
        self.session = session
        self.fixed_baud = baud
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # the slave stays open here, so the master never reads EIO
        self.path = os.ttyname(self.slave)
        self.faults = Faults()
        self._decoder = p.FrameDecoder()
        self._rx_done_s = 0.0
        self._tx_free_s = 0.0

    def baud(self) -> int:
        """The rate bytes are paced at: `--baud`, else the rate the host set on the port."""
        if self.fixed_baud:
            return self.fixed_baud
        return _BAUDS.get(termios.tcgetattr(self.slave)[5], 921600)

    def receive(self, data: bytes) -> None:
        """Handle bytes from the host: pace them, apply request faults, answer complete frames."""
        now = time.monotonic()
        self._rx_done_s = max(now, self._rx_done_s) + p.wire_seconds(len(data), self.baud())
        data = self._request_faults(data)
        for event in self._decoder.feed(data, now):
            _sleep_until(self._rx_done_s)  # the frame has fully arrived only now
            if self.faults.stall_s:
                time.sleep(self.faults.stall_s)
                self.faults.stall_s = 0.0
            running = self.session.load_report is not None  # a reset mid-run needs a run
            if (
                self.faults.reset_on_run
                and running
                and isinstance(event, p.Frame)
                and event.type == p.FrameType.RUN
            ):
                self.faults.reset_on_run -= 1
                self.session.power_on()
                continue
            self._send(self.session.handle(event))

    def _request_faults(self, data: bytes) -> bytes:
        f = self.faults
        if f.drop_request:
            data, f.drop_request = data[: p.HEADER.size + 1] + data[p.HEADER.size + 1 + f.drop_request :], 0
        if f.corrupt_request:
            i = min(p.HEADER.size + 1, len(data) - 1)
            data, f.corrupt_request = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :], False
        return data

    def _send(self, frame: bytes) -> None:
        f = self.faults
        if f.drop_reply:
            middle = len(frame) // 2
            frame, f.drop_reply = frame[:middle] + frame[middle + f.drop_reply :], 0
        if f.corrupt_reply:
            frame, f.corrupt_reply = frame[:-1] + bytes([frame[-1] ^ 0x80]), False
        baud = self.baud()
        self._tx_free_s = max(time.monotonic(), self._tx_free_s)
        for start in range(0, len(frame), _TX_SLICE_BYTES):
            piece = frame[start : start + _TX_SLICE_BYTES]
            self._tx_free_s += p.wire_seconds(len(piece), baud)
            _sleep_until(self._tx_free_s)  # delivered once its last bit is on the wire
            os.write(self.master, piece)

    def serve(self, console) -> None:
        """Serve until the console says `quit` (or forever without a console)."""
        selector = selectors.DefaultSelector()
        selector.register(self.master, selectors.EVENT_READ, "port")
        if console is not None:
            try:
                selector.register(console, selectors.EVENT_READ, "console")
            except PermissionError:  # stdin is a file or /dev/null: no console, just serve
                pass
        while True:
            for key, _ in selector.select():
                if key.data == "port":
                    self.receive(os.read(self.master, 4096))
                    continue
                line = console.readline()
                if not line:  # no console any more: keep serving the port
                    selector.unregister(console)
                elif line.strip() == "quit":
                    return
                elif line.strip():
                    try:
                        self.faults.arm(line.strip())
                        print(f"ok {line.strip()}", flush=True)
                    except ValueError as error:
                        print(f"error: {error}", flush=True)


def _sleep_until(deadline_s: float) -> None:
    delay = deadline_s - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m micronas.hardware.virtual_board", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--baud",
        type=int,
        default=None,
        help="pace bytes at this rate instead of the rate the host sets on the port",
    )
    parser.add_argument(
        "--protocol-version",
        type=int,
        default=p.PROTOCOL_VERSION,
        help="speak another protocol version (to test the mismatch error)",
    )
    parser.add_argument("--arena-capacity-bytes", type=int, default=1 << 20)
    parser.add_argument("--model-capacity-bytes", type=int, default=1 << 20)
    parser.add_argument("--result-capacity-words", type=int, default=2048)
    return parser


def _check(args) -> None:
    if args.baud is not None and args.baud <= 0:
        raise ConfigError(f"--baud {args.baud} is not valid: use a positive number of bits per second.")
    if not 1 <= args.protocol_version <= 255 or args.protocol_version == p.MAGIC:
        raise ConfigError(
            f"--protocol-version {args.protocol_version} is not valid: use 1 to 255 except 165."
        )
    for name, high in (
        ("arena_capacity_bytes", 1 << 28),
        ("model_capacity_bytes", (1 << 32) - 1),
        ("result_capacity_words", 0xFFFF),
    ):
        value = getattr(args, name)
        if not 1 <= value <= high:
            raise ConfigError(f"--{name.replace('_', '-')} {value} is not valid: use 1 to {high}.")


@exit_on_user_error
def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    _check(args)
    from tflite_micro.python.tflite_micro._version import __version__ as tflm_version

    from micronas.hardware.board_session import BoardConfig, BoardSession  # imports tflite-micro and torch

    config = BoardConfig(
        args.protocol_version,
        args.arena_capacity_bytes,
        args.model_capacity_bytes,
        args.result_capacity_words,
    )
    session = BoardSession(config, f"tflite-micro {tflm_version}", f"micronas {__version__} virtual board")
    board = VirtualBoard(session, args.baud)
    print(board.path, flush=True)
    pacing = f"{args.baud} baud (--baud)" if args.baud else "the baud rate the host sets on the port"
    print(
        f"virtual board on {board.path}: a pseudo-terminal has no baud rate, so bytes are paced at "
        f"{pacing}; faults on stdin: {', '.join(FAULTS)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        board.serve(sys.stdin)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
