"""Predicted beside measured costs of one deployed model, and the budgets judged on the measured ones."""

from dataclasses import asdict, dataclass

from micronas.budgets import verdicts
from micronas.cost.lut import timing_for
from micronas.cost.model import ArchitectureCosts
from micronas.hardware.measure import measure
from micronas.hardware.open import open_device
from micronas.timing import quartile_spread, summarise

COSTS = (("latency", "latency_ms", "ms"), ("arena", "arena_bytes", "B"), ("flash", "flash_bytes", "B"))


@dataclass(frozen=True)
class MeasuredCosts:
    """What the device measured: `latency_ms` is the MCU config's statistic of the timed runs (on the
    host: of the round minima of its table's protocol, so that it compares with the table's prediction),
    `latency_spread_ms` their inter-quartile range, arena from TFLM's recording allocator, flash the
    `.tflite` size."""

    latency_ms: float
    latency_median_ms: float
    latency_min_ms: float
    latency_statistic: str
    arena_bytes: int
    flash_bytes: int
    latency_spread_ms: float = 0.0

    @classmethod
    def from_record(cls, record: dict, statistic: str) -> "MeasuredCosts":
        """From the record `micronas.hardware.measure.measure` returns (`measurement.json`)."""
        m = record["measurement"]
        if "timing" in record:
            runs_ms = list(record["timing"]["rounds_ms"])
        else:
            runs_ms = [1000.0 * t / m["counter_hz"] for t in m["invoke_ticks"]]
        return cls(
            summarise(runs_ms, statistic), summarise(runs_ms, "median"), summarise(runs_ms, "min"), statistic,
            int(m["arena_used_bytes"]), int(m["model_bytes"]), quartile_spread(runs_ms),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def measure_model(mcu, model: bytes, warmups: int, repeats: int, windows=None) -> dict:
    """Load and time `model` on the device `mcu.device` names, and check its outputs on float NHWC
    `windows` when given; the `measurement.json` record."""
    with open_device(mcu) as device:
        return measure(device, model, warmups, repeats, windows, timing_for(mcu))


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


# The host's latency tolerance before the spreads of this run are added: the worst end-to-end error the
# bench (bench/cost.py, docs/latency.md) found over three datasets under the timing protocol, -6.69 %.
HOST_TOLERANCE_PCT = 7.0


def host_latency_check(predicted_ms: float, table_spread_ms: float, measured: MeasuredCosts) -> dict:
    """Predicted vs measured host latency with its tolerance: `HOST_TOLERANCE_PCT` plus the measured
    Invoke's spread and the summed spread of the table entries, both relative to the measured latency."""
    measured_pct = 100.0 * measured.latency_spread_ms / measured.latency_ms
    table_pct = 100.0 * table_spread_ms / measured.latency_ms
    tolerance = HOST_TOLERANCE_PCT + measured_pct + table_pct
    error = relative_error_pct(predicted_ms, measured.latency_ms)
    return {
        "error_pct": error,
        "tolerance_pct": tolerance,
        "measured_spread_pct": measured_pct,
        "table_spread_pct": table_pct,
        "within": abs(error) <= tolerance,
    }


def describe_host_latency(check: dict) -> str:
    """One line for the console: the host is a development stand-in, and how far its figure holds."""
    verdict = (
        "within it" if check["within"]
        else "OUTSIDE it: this machine was too busy or unsteady to time; measure again before trusting it"
    )
    return (
        f"host latency error {check['error_pct']:+.2f} % against a tolerance of "
        f"+-{check['tolerance_pct']:.1f} % ({HOST_TOLERANCE_PCT:.0f} % + measured spread "
        f"{check['measured_spread_pct']:.1f} % + table spread {check['table_spread_pct']:.1f} %): {verdict}. The host is a development stand-in, not a target: "
        f"its milliseconds say nothing about a board's."
    )


def measured_verdicts(constraints, measured: MeasuredCosts) -> dict[str, bool]:
    """`{budget: met?}` for every non-null budget (latency ms, memory and flash kB), on measured figures."""
    return verdicts(measured, constraints)
