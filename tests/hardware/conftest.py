"""Fixtures of the hardware tests: the firmware's C protocol layer built with the host gcc, tiny real
int8 models, and boards (C harness or virtual board) serving pseudo-terminals in child processes."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "hardware" / "firmware"


@pytest.fixture(scope="session")
def host_board_binary(tmp_path_factory) -> Path:
    """hardware/firmware/host/host_board.c with src/protocol.c and src/board.c, built by gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the C protocol layer cannot be built here")
    binary = tmp_path_factory.mktemp("firmware") / "host_board"
    subprocess.run(
        [
            gcc,
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            f"-I{FIRMWARE / 'src'}",
            "-o",
            str(binary),
            str(FIRMWARE / "host" / "host_board.c"),
            str(FIRMWARE / "src" / "protocol.c"),
            str(FIRMWARE / "src" / "board.c"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


def _keras_model(kind: str):
    import keras

    inputs = keras.Input((16, 3, 1))
    x = keras.layers.Conv2D(4, (3, 1), strides=(2, 1), padding="same", activation="relu")(inputs)
    if kind == "foreign":
        x = keras.layers.MaxPooling2D((2, 1))(x)
    x = keras.layers.Conv2D(5, (1, 1), padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Softmax()(x))


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, bytes]:
    """Full-int8 .tflite models from the project's converter: "ok" (CONV_2D, CONV_2D, MEAN, SOFTMAX)
    and "foreign" (with a MAX_POOL_2D the firmware does not register)."""
    import keras

    from micronas.export.convert import to_int8_tflite

    keras.utils.set_random_seed(0)
    windows = np.random.default_rng(0).normal(size=(16, 16, 3, 1)).astype(np.float32)
    return {kind: to_int8_tflite(_keras_model(kind), windows) for kind in ("ok", "foreign")}


class BoardProcess:
    """A board in a child process: its pty path, and its stdin console for faults."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self.path = self.proc.stdout.readline().strip()
        if not self.path.startswith("/dev/"):
            self.stop()
            raise RuntimeError(f"board did not print its pty path: {self.path!r}")

    def fault(self, line: str) -> None:
        """Arm a fault on the virtual board and wait for its acknowledgement."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == f"ok {line}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def start_board():
    """`start_board(argv)` starts a board process; all are stopped at the end of the test."""
    boards = []

    def _start(argv: list[str]) -> BoardProcess:
        boards.append(BoardProcess([str(a) for a in argv]))
        return boards[-1]

    yield _start
    for board in boards:
        board.stop()


VIRTUAL_BOARD = [sys.executable, "-m", "micronas.hardware.virtual_board"]


@pytest.fixture(scope="module")
def virtual_board():
    """One virtual board for a test module (the tflite-micro import is paid once)."""
    board = BoardProcess(VIRTUAL_BOARD)
    yield board
    board.stop()
