"""Measure a `.tflite` on the device an MCU config names and write `measurement.json`:

python -m micronas.hardware.measure MODEL.tflite mcu=host [mcu.device.kind=serial mcu.device.port=PORT]
    [--warmups 2] [--repeats 10] [--out measurement.json]
python -m micronas.hardware.measure MODEL.tflite mcu=qemu_m33     # the firmware in QEMU: instruction counts

On the host the latency is timed under the protocol of its latency table (`micronas.timing`,
read from the table's header): the figure to compare with the table's prediction.
"""

import argparse
import json
import statistics
from pathlib import Path

from micronas.config import load_config
from micronas.cost.lut import timing_for
from micronas.errors import ConfigError, DataError, exit_on_user_error
from micronas.hardware.device import Device, Measurement
from micronas.hardware.open import open_device
from micronas.hardware.output_check import check_outputs
from micronas.timing import TimingProtocol, clock_timed, time_models


def measure(
    device: Device, model: bytes, warmups: int = 2, repeats: int = 10, windows=None,
    timing: TimingProtocol | None = None,
) -> dict:
    """Load and run `model` on `device`: the device identity, the load report and the measurement; with
    float NHWC `windows`, also the output check against the host interpreter (docs/method.md §9.9); with
    `timing` on a clock-timed device, also the latency under that protocol (`timing`)."""
    timed = time_models(device, [model], timing)[0] if timing and clock_timed(device) else None
    report = device.load(model)
    result: Measurement = device.run(warmups, repeats)
    record = {"device": device.info().to_dict(), "load": vars(report), "measurement": result.to_dict()}
    if timed is not None:
        record["timing"] = timed.to_dict()
    if windows is not None:
        record["output_check"] = check_outputs(device, model, windows).to_dict()
    return record


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an int8 .tflite file")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. mcu=nucleo_l552 mcu.device.port=/dev/ttyACM0"
    )
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="measurement.json")
    args = parser.parse_args(argv)
    if args.warmups < 0 or args.repeats < 1:
        raise ConfigError(
            f"--warmups {args.warmups} --repeats {args.repeats} are not valid: use >= 0 and >= 1."
        )
    path = Path(args.model)
    if not path.is_file():
        raise DataError(f"the model file {path} does not exist.")
    cfg = load_config("train", args.overrides)
    with open_device(cfg.mcu) as device:
        record = measure(device, path.read_bytes(), args.warmups, args.repeats, timing=timing_for(cfg.mcu))
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    m = record["measurement"]
    if m["tick_unit"] == "instructions":  # QEMU: a count, never a board's time
        median = f"median {statistics.median(m['invoke_ticks']):.0f} instructions"
        cold = f"cold {m['cold_ticks']} instructions"
    elif "timing" in record:
        t = record["timing"]
        rounds = len(t["rounds_ms"])
        median = f"{t['latency_ms']:.4f} ms (median of {rounds} round minima, IQR {t['spread_ms']:.4f} ms)"
        cold = f"cold {t['cold_ms']:.4f} ms"
    else:
        median, cold = f"median {m['latency_ms']:.4f} ms", f"cold {m['cold_latency_ms']:.4f} ms"
    print(
        f"{path.name} on {record['device']['board']} ({record['device']['firmware_build']}): "
        f"{median} over {len(m['invoke_ticks'])} runs, {cold}, arena {m['arena_used_bytes']} bytes -> {args.out}"
    )


if __name__ == "__main__":
    main()
