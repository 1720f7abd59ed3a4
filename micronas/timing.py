"""The timing protocol of a device timed by a shared clock (the host): table entries, the per-invoke
overhead and the measured Invoke of a deployed model all go through `time_models`.

A model is timed in `rounds` rounds. A round loads the model, runs `warmups` untimed Invokes (warm arena,
weights and code), then `burst` timed ones, and keeps the fastest of the burst: another process can only
add time to an Invoke. The latency is the median of the round minima and its spread their inter-quartile
range. Models timed together are interleaved round by round (1, 2, ..., n, 1, 2, ...), and the rounds
are spread over at least `span_s` seconds (a short pause after a quick round), so that a slow spell of a
shared machine (seconds in which every Invoke runs slower) falls on a few rounds of every model, not on
all rounds of a few. A model whose rounds still disagree (a spell as long as its rounds) is timed again.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from micronas.errors import ConfigError

STATISTICS = ("median", "min")


def summarise(values, statistic: str) -> float:
    """`median` (boards, and the host's round minima) or `min` of `values`: the one function that turns
    timed runs into a latency, for table entries and measured Invokes alike."""
    if statistic not in STATISTICS:
        raise ConfigError(
            f"latency statistic {statistic!r} is not valid; valid ones are: {', '.join(STATISTICS)}."
        )
    return statistics.median(values) if statistic == "median" else min(values)


@dataclass(frozen=True)
class TimingProtocol:
    """Rounds per model, untimed warm-up Invokes and timed Invokes per round, and the shortest time the
    rounds are spread over."""

    rounds: int = 9
    warmups: int = 2
    burst: int = 5
    span_s: float = 3.0
    retime_pct: float = 10.0

    def __post_init__(self):
        for name, low in (("rounds", 1), ("warmups", 0), ("burst", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"timing {name}={value!r} is not valid; use an integer >= {low}.")
        if not isinstance(self.span_s, (int, float)) or not 0 <= self.span_s <= 600:
            raise ConfigError(f"timing span_s={self.span_s!r} is not valid; use seconds from 0 to 600.")
        if not isinstance(self.retime_pct, (int, float)) or not self.retime_pct > 0:
            raise ConfigError(f"timing retime_pct={self.retime_pct!r} is not valid; use a percentage > 0.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TimingProtocol":
        counts = {name: int(values[name]) for name in ("rounds", "warmups", "burst")}
        return cls(**counts, span_s=float(values["span_s"]), retime_pct=float(values["retime_pct"]))


def clock_timed(device) -> bool:
    """Whether `device` times whole Invokes by a clock (the host), so `time_models` applies; boards and
    QEMU count each operator's cycles or instructions and keep their own repeats."""
    return device.info().tick_unit == "ns"


def quartile_spread(values) -> float:
    """Inter-quartile range of `values` (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return high - low


@dataclass(frozen=True)
class Timed:
    """One model timed under the protocol: the fastest Invoke of each round (ms) and the first Invoke."""

    rounds_ms: tuple[float, ...]
    cold_ms: float
    arena_bytes: int
    protocol: TimingProtocol

    @property
    def latency_ms(self) -> float:
        """Median of the round minima."""
        return summarise(self.rounds_ms, "median")

    @property
    def spread_ms(self) -> float:
        """Inter-quartile range of the round minima."""
        return quartile_spread(self.rounds_ms)

    @property
    def spread_pct(self) -> float:
        """The spread relative to the latency, in % (0 for a zero latency)."""
        return 100.0 * self.spread_ms / self.latency_ms if self.latency_ms > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol.to_dict(),
            "rounds_ms": list(self.rounds_ms),
            "latency_ms": self.latency_ms,
            "spread_ms": self.spread_ms,
            "cold_ms": self.cold_ms,
        }


def time_models(device, models: list[bytes], protocol: TimingProtocol, sleep=time.sleep) -> list[Timed]:
    """Time every model of `models` on `device` under `protocol`, interleaved round by round; a model whose
    round minima spread more than `protocol.retime_pct` (IQR over median) is timed once more, and the
    steadier of its two timings is kept."""
    timed = _time_rounds(device, models, protocol, sleep)
    unsteady = [i for i, t in enumerate(timed) if t.spread_pct > protocol.retime_pct]
    if unsteady:
        again = _time_rounds(device, [models[i] for i in unsteady], protocol, sleep)
        for index, result in zip(unsteady, again):
            if result.spread_pct < timed[index].spread_pct:
                timed[index] = result
    return timed


def _time_rounds(device, models: list[bytes], protocol: TimingProtocol, sleep) -> list[Timed]:
    rounds = [[] for _ in models]
    cold, arena = [None] * len(models), [0] * len(models)
    start = time.monotonic()
    for number in range(protocol.rounds):
        pause = start + number * protocol.span_s / protocol.rounds - time.monotonic()
        if pause > 0:
            sleep(pause)
        for index, model in enumerate(models):
            report = device.load(model)
            measurement = device.run(protocol.warmups, protocol.burst)
            rounds[index].append(min(measurement.latency_ms_runs))
            if cold[index] is None:
                cold[index], arena[index] = measurement.cold_latency_ms, report.arena_used_bytes
    return [Timed(tuple(r), c, a, protocol) for r, c, a in zip(rounds, cold, arena)]
