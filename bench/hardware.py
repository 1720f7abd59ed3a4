"""LUT entries per minute over the virtual board at 115200 and 921600 baud, and the protocol's cost per
entry, against the same entries measured in-process (no serial link).

    .venv/bin/python bench/hardware.py [--entries 12] [--dataset ucihar] [--warmups 2] [--repeats 10]

One entry = upload one single-op int8 model, then RUN(warm-ups, repeats), as the profiler does. The ops
are spread evenly over the dataset's LUT enumeration. Model conversion (Keras -> int8) is done once up
front and reported apart: the host does it whichever way the model reaches the board.

A pseudo-terminal has no baud rate. The virtual board paces every byte it sends, and accounts for every
byte it receives, at the baud rate this script sets on the port, so the transfer times are those of a
real 8N1 line. The board's compute is the host's tflite-micro, so the absolute entry times are not
those of a microcontroller; the protocol overhead is what this bench is for.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from micronas.config import load_config  # noqa: E402
from micronas.cost.enumerate import enumerate_ops  # noqa: E402
from micronas.hardware.local_device import LocalTflmDevice  # noqa: E402
from micronas.hardware.serial_device import SerialDevice  # noqa: E402
from micronas.profiling.profile import single_op_tflite  # noqa: E402
from micronas.space.searchspace import SearchSpace  # noqa: E402

BAUDS = (115200, 921600)


def spread(items: list, count: int) -> list:
    """`count` items evenly spaced over `items` (first and last included)."""
    if count >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def time_entries(device, models: list[bytes], warmups: int, repeats: int) -> tuple[list[float], list[int]]:
    """Wall seconds of load + run for each model on `device`, and the bytes each moved over serial."""
    seconds, wire_bytes = [], []
    stats = getattr(device, "stats", None)
    for model in models:
        before = stats.bytes_sent + stats.bytes_received if stats else 0
        start = time.perf_counter()
        device.load(model)
        device.run(warmups, repeats)
        seconds.append(time.perf_counter() - start)
        wire_bytes.append(stats.bytes_sent + stats.bytes_received - before if stats else 0)
    return seconds, wire_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=12)
    parser.add_argument("--dataset", default="ucihar")
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    space = SearchSpace.from_config(load_config("search", [f"dataset={args.dataset}"]))
    ops = spread(enumerate_ops(space), args.entries)
    start = time.perf_counter()
    models = [single_op_tflite(op) for op in ops]
    convert_s = (time.perf_counter() - start) / len(models)
    model_bytes = [len(m) for m in models]
    print(
        f"{len(models)} single-op int8 models from the {args.dataset} LUT enumeration "
        f"({len(enumerate_ops(space))} entries): {min(model_bytes)}..{max(model_bytes)} bytes, "
        f"median {statistics.median(model_bytes):.0f}; Keras -> int8 conversion {convert_s:.2f} s per model "
        "(host work either way, excluded below)"
    )
    print(f"each entry: upload + RUN({args.warmups} warm-ups, {args.repeats} repeats)\n")

    local_s, _ = time_entries(LocalTflmDevice(), models, args.warmups, args.repeats)
    print(
        f"{'path':<30}{'entry s':>10}{'entries/min':>13}{'protocol s':>12}{'line s':>10}{'bytes':>8}"
        f"{'retransmits':>13}"
    )
    print(
        f"{'in-process tflite-micro':<30}{statistics.median(local_s):>10.4f}"
        f"{60 * len(models) / sum(local_s):>13.0f}{'-':>12}{'-':>10}{'-':>8}{'-':>13}"
    )

    board = subprocess.Popen(
        [sys.executable, "-m", "micronas.hardware.virtual_board"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        port = board.stdout.readline().strip()
        for baud in BAUDS:
            with SerialDevice(port, baud) as device:
                serial_s, wire_bytes = time_entries(device, models, args.warmups, args.repeats)
                protocol_s = statistics.median(s - t for s, t in zip(serial_s, local_s))
                line_s = statistics.median(b * 10 / baud for b in wire_bytes)
                print(
                    f"{f'virtual board, {baud} baud':<30}{statistics.median(serial_s):>10.4f}"
                    f"{60 * len(models) / sum(serial_s):>13.0f}{protocol_s:>12.4f}{line_s:>10.4f}"
                    f"{statistics.median(wire_bytes):>8.0f}{device.stats.retransmissions:>13}"
                )
    finally:
        board.stdin.close()
        board.terminate()
        board.wait(timeout=10)

    print(
        "\nentry s, protocol s, line s, bytes: medians over the entries. entries/min: entries / total time."
    )
    print("protocol s = serial entry time - in-process entry time; line s = bytes moved x 10 bits / baud,")
    print("the floor any 8N1 link imposes (the rest is framing turnarounds and host/board processing).")
    print("\nreference implementation: one firmware rebuild and one reflash per entry, one run, no warm-up;")
    print("not measured here (no board, and no ARM build of TFLM on this machine). micronas flashes once and")
    print("pays only the upload and run above per entry.")


if __name__ == "__main__":
    main()
