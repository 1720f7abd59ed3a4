"""`CostModel`: latency, arena and flash of operators and architectures for one MCU config.

Latency answers come from the MCU's measured table where it holds the op ("measured"), from the same
op measured with another fused activation ("measured-other-activation": TFLM applies a fused
activation as the output clamp bounds of the same kernel, so the cycles do not change; the reference
tables measured the head conv with ReLU), and otherwise from the fitted predictor ("predicted"). Each
predicted op is logged once, and a network whose latency comes more than 10 % from predictions is
warned about (docs/method.md §7.4), unless the predictor is the board's calibrated one (its config states a
held-out error).
"""

import logging
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from micronas.budgets import budget_value, latency_unit, verdicts
from micronas.cost.flash import FlashModel
from micronas.cost.graph import op_graph
from micronas.cost.lut import DeviceIdentity, LutEntry, read_lut, table_timing
from micronas.cost.memory import ArenaEstimate, TflmBuild, estimate_arena, tflm_build
from micronas.cost.predictor import LatencyPredictor
from micronas.errors import ConfigError, DataError, MicronasError
from micronas.space.architecture import Architecture
from micronas.space.opspec import OpSpec
from micronas.timing import STATISTICS

log = logging.getLogger(__name__)

PREDICTED_SHARE_WARNING = 0.10


@dataclass(frozen=True)
class OpLatency:
    """One op's latency and where it came from: measured, measured-other-activation or predicted."""

    latency_ms: float
    provenance: str


@dataclass(frozen=True)
class NetworkLatency:
    """One `Invoke()`: the op latencies, the per-invoke overhead and their total."""

    ops: tuple[OpLatency, ...]
    overhead_ms: float

    @property
    def total_ms(self) -> float:
        return sum(op.latency_ms for op in self.ops) + self.overhead_ms

    @property
    def predicted_share(self) -> float:
        """Share of the op time that comes from predicted (not measured) entries."""
        op_ms = sum(op.latency_ms for op in self.ops)
        predicted = sum(op.latency_ms for op in self.ops if op.provenance == "predicted")
        return predicted / op_ms if op_ms else 0.0


@dataclass(frozen=True)
class ArchitectureCosts:
    """The exact predicted costs of one discrete architecture on one device (docs/method.md §4.4 step 4)."""

    latency_ms: float
    predicted_share: float  # share of the op time that comes from the fallback predictor
    arena_bytes: int
    peak_bytes: int
    flash_bytes: int

    def value(self, budget: str) -> float:
        """The figure a budget constrains, in the budget's units (latency ms, memory and flash kB)."""
        return budget_value(self, budget)

    def verdicts(self, constraints: dict) -> dict[str, bool]:
        """`{budget: met?}` for every non-null budget of `constraints` (latency ms, memory/flash kB)."""
        return verdicts(self, constraints)

    def summary(self, unit: str) -> dict:
        """The predicted costs as `summary.json` and `architecture.json` write them; `unit` is the
        latency's ("M instructions" on a QEMU board: `latency_ms` then counts 10^6 instructions)."""
        return {"latency_ms": self.latency_ms, "latency_unit": unit,
                "latency_predicted_share": self.predicted_share, "arena_bytes": self.arena_bytes,
                "peak_bytes": self.peak_bytes, "flash_bytes": self.flash_bytes}


class CostModel:
    """Latency (table, else predictor, with provenance), TFLM arena and flash for one device."""

    def __init__(
        self,
        name: str,
        entries: list[LutEntry],
        predictor: LatencyPredictor | None,
        invoke_overhead_ms: float,
        build: TflmBuild,
        flash: FlashModel = FlashModel(),
        statistic: str = "median",
        latency_unit: str = "ms",
        calibrated: bool = False,
    ):
        self.name = name
        self.latency_unit = latency_unit  # "ms", or "M instructions" under QEMU (micronas.budgets)
        self.table = {e.op.key(): e for e in entries if e.ok}
        self.profiled = frozenset(e.op.key() for e in entries)  # failed entries too: a profile skips them
        self.statistic = statistic
        self.predictor = predictor
        self.invoke_overhead_ms = float(invoke_overhead_ms)
        self.build = build
        self.flash = flash
        self._cache: dict[str, OpLatency] = {}
        self._warned_predicted_share = False  # warn once per model, not once per architecture
        self.calibrated = calibrated  # the predictor is the board's, with a held-out error: no warning

    @classmethod
    def from_mcu(cls, mcu) -> "CostModel":
        """Build from an MCU config (`cfg.mcu`): its LUT file if present, its predictor and arena build."""
        cost = mcu.cost
        entries = []
        if Path(cost.lut_path).is_file():
            _, entries = read_lut(cost.lut_path, DeviceIdentity.from_mcu(mcu))
            if mcu.get("latency_source") == "host-profile" and table_timing(cost.lut_path) is None:
                raise DataError(
                    f"{cost.lut_path} is a micronas-lut/2 host table, timed by the wall clock without the "
                    f"round protocol, so its entries do not add up to a measured Invoke; delete it and "
                    f"profile again (python -m micronas.profiling.profile mcu={mcu.name} dataset=NAME)."
                )
        ok = [e for e in entries if e.ok]
        clock_hz = int(mcu.clock_hz) if mcu.clock_hz else None
        statistic = str(cost.get("latency_statistic") or "median")
        if statistic not in STATISTICS:
            raise ConfigError(
                f"mcu.cost.latency_statistic={statistic} is not valid; "
                f"valid ones are: {', '.join(STATISTICS)}."
            )
        if cost.get("predictor") is not None:
            predictor = LatencyPredictor.from_config(cost.predictor, clock_hz)
        elif ok:
            predictor = LatencyPredictor.fit(ok, "extended", clock_hz, statistic)
        else:
            predictor = None
        overhead = cost.get("invoke_overhead_ms")
        if overhead is None:
            gaps = [e.invoke_ms - e.latency_ms for e in ok if e.invoke_ms is not None]
            overhead = statistics.median(gaps) if gaps else 0.0
        build = tflm_build(str(cost.arena.build), dict(cost.arena.get("overrides") or {}))
        if build.word_bytes * 8 != int(mcu.word_bits):
            raise ConfigError(
                f"mcu.cost.arena.build={cost.arena.build} has {build.word_bytes * 8}-bit pointers but "
                f"mcu.word_bits={mcu.word_bits}; choose a build of the board's word size."
            )
        log.info(
            "cost model %s: %d measured entries, predictor %s, overhead %.4f %s",
            mcu.name,
            len(ok),
            "yes" if predictor else "none",
            overhead,
            latency_unit(mcu),
        )
        calibrated = cost.get("predictor") is not None and cost.predictor.get("heldout") is not None
        return cls(str(mcu.name), entries, predictor, overhead, build, statistic=statistic,
                   latency_unit=latency_unit(mcu), calibrated=calibrated)

    def op_latency(self, op: OpSpec) -> OpLatency:
        """Latency of one op in ms, with its provenance."""
        if op.key() not in self._cache:
            self._cache[op.key()] = self._lookup(op)
        return self._cache[op.key()]

    def _entry(self, op: OpSpec) -> tuple[LutEntry | None, str]:
        """The table entry that answers for `op` and its provenance (None, "predicted" if none does)."""
        entry = self.table.get(op.key())
        if entry is not None:
            return entry, "measured"
        if op.kind == "conv2d":
            for activation in ("relu", "none"):
                other = self.table.get(replace(op, activation=activation).key())
                if other is not None:
                    return other, "measured-other-activation"
        return None, "predicted"

    def _lookup(self, op: OpSpec) -> OpLatency:
        key = op.key()
        entry, provenance = self._entry(op)
        if entry is not None:
            return OpLatency(entry.latency(self.statistic), provenance)
        if self.predictor is None:
            raise MicronasError(
                f"mcu={self.name} has no measured entry for {key} and no fitted predictor; import the "
                f"board's measured single-op records (python -m micronas.cost.import_records PATH "
                f"mcu={self.name}) or profile it (python -m micronas.profiling.profile mcu={self.name} "
                f"dataset=NAME), then calibrate (python -m micronas.cost.calibrate mcu={self.name} --write)."
            )
        log.debug("%s: %s predicted (no measured entry)", self.name, key)
        return OpLatency(self.predictor.predict_ms(op), "predicted")

    def latency_ms(self, op: OpSpec) -> float:
        return self.op_latency(op).latency_ms

    def network_latency(self, ops: list[OpSpec]) -> NetworkLatency:
        """Latency of one `Invoke()` of a network running `ops` (op sum plus per-invoke overhead)."""
        result = NetworkLatency(tuple(self.op_latency(op) for op in ops), self.invoke_overhead_ms)
        if result.predicted_share > PREDICTED_SHARE_WARNING:
            quiet = self._warned_predicted_share or self.calibrated
            level = logging.DEBUG if quiet else logging.WARNING
            self._warned_predicted_share = True
            log.log(
                level,
                "%s: %.0f %% of the latency comes from predicted entries",
                self.name,
                100 * result.predicted_share,
            )
        return result

    def network_spread_ms(self, ops: list[OpSpec]) -> float:
        """Sum of the inter-quartile ranges of the table entries `ops` read (0 for predicted ops): how far
        the predicted sum moves with the entries' own timing noise, at worst."""
        entries = [self._entry(op)[0] for op in ops]
        return sum(entry.spread_ms for entry in entries if entry is not None)

    def arena(self, arch: Architecture) -> ArenaEstimate:
        """The TFLM arena of `arch` on this device (head + tail, and the live-set peak)."""
        return estimate_arena(op_graph(arch), self.build)

    def flash_bytes(self, arch: Architecture) -> int:
        """Predicted `.tflite` size of `arch`."""
        return self.flash.flash_bytes(arch.ops())

    def predict(self, arch: Architecture) -> ArchitectureCosts:
        """Exact predicted latency (with its predicted share), arena, live-set peak and flash of `arch`."""
        latency = self.network_latency(arch.ops())
        arena = self.arena(arch)
        return ArchitectureCosts(
            latency.total_ms, latency.predicted_share, arena.arena_bytes, arena.peak_bytes, self.flash_bytes(arch)
        )
