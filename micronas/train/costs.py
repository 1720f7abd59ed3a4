"""Predicted beside measured costs of one deployed model, and the budgets judged on the measured ones."""

import statistics
from dataclasses import asdict, dataclass

from micronas.budgets import verdicts
from micronas.cost.model import ArchitectureCosts
from micronas.hardware.measure import measure
from micronas.hardware.open import open_device

COSTS = (("latency", "latency_ms", "ms"), ("arena", "arena_bytes", "B"), ("flash", "flash_bytes", "B"))


@dataclass(frozen=True)
class MeasuredCosts:
    """What the device measured: `latency_ms` is the MCU config's statistic (median of the timed runs
    on a board; the fastest run on the shared host, as its latency table uses), arena from TFLM's
    recording allocator, flash the `.tflite` size."""

    latency_ms: float
    latency_median_ms: float
    latency_min_ms: float
    latency_statistic: str
    arena_bytes: int
    flash_bytes: int

    @classmethod
    def from_record(cls, record: dict, statistic: str) -> "MeasuredCosts":
        """From the record `micronas.hardware.measure.measure` returns (`measurement.json`)."""
        m = record["measurement"]
        runs_ms = [1000.0 * t / m["counter_hz"] for t in m["invoke_ticks"]]
        median, fastest = statistics.median(runs_ms), min(runs_ms)
        return cls(
            fastest if statistic == "min" else median, median, fastest, statistic,
            int(m["arena_used_bytes"]), int(m["model_bytes"]),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def measure_model(mcu, model: bytes, warmups: int, repeats: int, windows=None) -> dict:
    """Load and time `model` on the device `mcu.device` names, and check its outputs on float NHWC
    `windows` when given; the `measurement.json` record."""
    with open_device(mcu) as device:
        return measure(device, model, warmups, repeats, windows)


def relative_error_pct(predicted: float, measured: float) -> float:
    """`100 * (predicted - measured) / measured`."""
    return 100.0 * (predicted - measured) / measured


def comparison(predicted: ArchitectureCosts, measured: MeasuredCosts, latency: str = "ms") -> list[dict]:
    """One row per cost: name, field, unit, predicted, measured and the relative error in %; the latency
    row is in `latency` units (ms, or M instructions on a QEMU board: `micronas.budgets.latency_unit`)."""
    rows = []
    for name, field, unit in COSTS:
        unit = latency if name == "latency" else unit
        p, m = getattr(predicted, field), getattr(measured, field)
        error = relative_error_pct(p, m)
        rows.append({"cost": name, "field": field, "unit": unit, "predicted": p, "measured": m, "error_pct": error})
    return rows


def measured_verdicts(constraints, measured: MeasuredCosts) -> dict[str, bool]:
    """`{budget: met?}` for every non-null budget (latency ms, memory and flash kB), on measured figures."""
    return verdicts(measured, constraints)
