"""The `Device` interface: a place that runs int8 `.tflite` models and times them, and the records it
returns (`DeviceInfo`, `LoadReport`, `Measurement`)."""

from __future__ import annotations

import abc
import statistics
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class DeviceInfo:
    """Who measures: the device's identity (docs/method.md §7.2) and its limits."""

    board: str
    core: str
    core_clock_hz: int | None  # None where unknown (a host CPU)
    counter_hz: int  # ticks per second of the counter measurements use
    tflm_version: str
    kernel_library: str
    compiler: str
    firmware_build: str
    weights_in: str  # "flash" or "ram": where the model lives while it runs
    arena_capacity_bytes: int
    model_capacity_bytes: int
    protocol_version: int | None  # None for an in-process device
    # what a tick is: "cycles" (a board's DWT), "ns" (a clock), "instructions" (QEMU: counts no time, so
    # its "ms" are 10^6 instructions of virtual time, never a board's milliseconds)
    tick_unit: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoadReport:
    """What a device reports once a model is loaded and its tensors allocated."""

    model_bytes: int
    model_crc32: int
    arena_used_bytes: int
    n_ops: int


@dataclass(frozen=True)
class Measurement:
    """Ticks of every timed Invoke (and of each operator where the device can time them)."""

    counter_hz: int
    warmups: int
    invoke_ticks: tuple[int, ...]
    op_ticks: tuple[tuple[int, ...], ...]  # one tuple per repeat; empty tuples when ops are not timed
    cold_ticks: int  # the first Invoke of the run
    arena_used_bytes: int
    model_bytes: int
    model_crc32: int
    tick_unit: str = "cycles"  # DeviceInfo.tick_unit: with "instructions", "ms" are 10^6 instructions

    def _ms(self, ticks) -> float:
        return 1000.0 * float(ticks) / self.counter_hz

    @property
    def repeats(self) -> int:
        return len(self.invoke_ticks)

    @property
    def latency_ms_runs(self) -> tuple[float, ...]:
        return tuple(self._ms(t) for t in self.invoke_ticks)

    @property
    def latency_ms(self) -> float:
        """Median Invoke latency."""
        return self._ms(statistics.median(self.invoke_ticks))

    @property
    def latency_ms_iqr(self) -> float:
        q1, q3 = np.percentile(self.invoke_ticks, [25, 75])
        return self._ms(q3 - q1)

    @property
    def cold_latency_ms(self) -> float:
        return self._ms(self.cold_ticks)

    @property
    def ops_timed(self) -> bool:
        return bool(self.op_ticks) and len(self.op_ticks[0]) > 0

    @property
    def op_latency_ms(self) -> tuple[float, ...] | None:
        """Median latency of each operator in execution order, or None where ops are not timed."""
        if not self.ops_timed:
            return None
        return tuple(self._ms(statistics.median(column)) for column in zip(*self.op_ticks))

    @property
    def overhead_ms(self) -> float | None:
        """Median of (Invoke - sum of operators): the per-Invoke overhead, or None without op times."""
        if not self.ops_timed:
            return None
        return self._ms(statistics.median(t - sum(ops) for t, ops in zip(self.invoke_ticks, self.op_ticks)))

    def to_dict(self) -> dict:
        """Raw ticks plus the derived milliseconds (for `measurement.json` and LUT entries)."""
        return {
            **asdict(self),
            "latency_ms": self.latency_ms,
            "latency_ms_min": self._ms(min(self.invoke_ticks)),
            "latency_ms_max": self._ms(max(self.invoke_ticks)),
            "latency_ms_iqr": self.latency_ms_iqr,
            "cold_latency_ms": self.cold_latency_ms,
            "op_latency_ms": self.op_latency_ms,
            "overhead_ms": self.overhead_ms,
        }


class Device(abc.ABC):
    """Runs int8 `.tflite` models and times them: a board over serial or the in-process interpreter."""

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """The device's identity and limits."""

    @abc.abstractmethod
    def load(self, tflite: bytes) -> LoadReport:
        """Load a model (replacing the previous one) and allocate its tensors."""

    @abc.abstractmethod
    def run(self, warmups: int = 2, repeats: int = 10) -> Measurement:
        """Invoke the loaded model `warmups` times untimed, then `repeats` times timed."""

    @abc.abstractmethod
    def infer(self, input_bytes: bytes) -> bytes:
        """One Invoke of the loaded model on `input_bytes` (its int8 input tensor): the int8 output's bytes."""

    def close(self) -> None:
        """Release the device."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
