"""The latency look-up table file: JSON lines, one device header, then one measured entry per OpSpec.

The first line is `{"header": {...}}` with the device identity (board, core, clock, runtime and its
version, kernel library, pointer width), the creation date and, for a device timed by a shared clock
(the host), the timing protocol its entries were measured under (`micronas.timing`; null for
boards, which time each operator). Every further line is one entry, tagged
with a fingerprint of that identity (`"device"`), so a line copied from another device's table is
refused. Numbers must be finite (a NaN time is refused, never averaged). The file
is only ever appended to, one flushed and synced line per entry, so a killed profiler loses at most the
line it was writing; such a half-written last line is skipped with a warning and cut off before the next
append. A table is opened for one identity, and a file whose header names another device is refused.
"""

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from micronas.errors import ConfigError, DataError
from micronas.space.opspec import OpSpec
from micronas.timing import TimingProtocol, quartile_spread, summarise

log = logging.getLogger(__name__)

FORMAT = "micronas-lut/3"   # /3 adds the header's timing protocol; /2 (none) is still read
READABLE = ("micronas-lut/2", FORMAT)  # /1 lines carried no device tag


class LutIdentityError(DataError):
    """A table measured on another device (or another runtime or kernel library)."""


@dataclass(frozen=True)
class DeviceIdentity:
    """What a latency table is valid for; a table must never be used under another identity."""

    board: str
    core: str
    clock_hz: int | None
    runtime: str
    runtime_version: str
    kernel_library: str
    word_bits: int

    @classmethod
    def from_mcu(cls, mcu) -> "DeviceIdentity":
        """The identity an MCU config (`cfg.mcu`) describes.

        A null `cost.runtime_version` means the installed tflite-micro package, which only the host runs.
        """
        runtime_version = mcu.cost.runtime_version
        if runtime_version is None:
            if mcu.board != "host":
                raise ConfigError(
                    f"mcu.cost.runtime_version is null for {mcu.name}; set it to the TFLM version of the "
                    f"board's firmware (null means the host's tflite-micro package) once, on the "
                    f"import_records, profile or calibrate --write command, which stores it."
                )
            runtime_version = f"tflite-micro {metadata.version('tflite-micro')}"
        return cls(
            board=str(mcu.board),
            core=str(mcu.core),
            clock_hz=None if mcu.clock_hz is None else int(mcu.clock_hz),
            runtime=str(mcu.runtime),
            runtime_version=str(runtime_version),
            kernel_library=str(mcu.kernel_library),
            word_bits=int(mcu.word_bits),
        )

    def tag(self) -> str:
        """A short fingerprint of this identity, carried by every entry line of its table."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def differences(self, other: "DeviceIdentity") -> list[str]:
        """`field: ours != theirs` for every field that differs."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{name}: {mine[name]!r} != {theirs[name]!r}" for name in mine if mine[name] != theirs[name]]


@dataclass(frozen=True)
class LutEntry:
    """One measured operator: its op time over the timed runs, and what else the run reported.

    `samples_ms` are the timed runs (after warm-ups); `samples_cycles` the same runs in core cycles where
    the device counts cycles. `invoke_ms` is the median whole-`Invoke()` time of the single-op model
    (op time plus the interpreter's per-invoke overhead). `status` is `ok` or `failed:<reason>`; failed
    entries carry no samples and are never used as costs.
    """

    op: OpSpec
    samples_ms: tuple[float, ...]
    samples_cycles: tuple[int, ...] | None = None
    cold_ms: float | None = None
    invoke_ms: float | None = None
    arena_bytes: int | None = None
    flash_bytes: int | None = None
    status: str = "ok"
    source: str = ""
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        object.__setattr__(self, "samples_ms", tuple(float(v) for v in self.samples_ms))
        if self.samples_cycles is not None:
            object.__setattr__(self, "samples_cycles", tuple(int(v) for v in self.samples_cycles))
        if self.ok and not self.samples_ms:
            raise ValueError(f"entry {self.op.key()} has status ok but no timed runs")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def latency_ms(self) -> float:
        """Median op time of the timed runs (on the host: of the round minima)."""
        return summarise(self.samples_ms, "median")

    def latency(self, statistic: str) -> float:
        """Op time in ms by `statistic` (`micronas.timing.summarise`: median or min)."""
        return summarise(self.samples_ms, statistic)

    @property
    def latency_cycles(self) -> float | None:
        """Median op cycles of the timed runs, where the device counts cycles."""
        return summarise(self.samples_cycles, "median") if self.samples_cycles else None

    @property
    def spread_ms(self) -> float:
        """Inter-quartile range of the timed runs (0 for a single run)."""
        return quartile_spread(self.samples_ms)

    def to_json(self) -> dict:
        record = {"key": self.op.key(), "op": self.op.to_dict(), "status": self.status}
        if self.ok:
            record["latency"] = {
                "median_ms": self.latency_ms,
                "median_cycles": self.latency_cycles,
                "min_ms": min(self.samples_ms),
                "max_ms": max(self.samples_ms),
                "iqr_ms": self.spread_ms,
                "spread_pct": 100.0 * self.spread_ms / self.latency_ms if self.latency_ms > 0 else 0.0,
                "repeats": len(self.samples_ms),
                "cold_ms": self.cold_ms,
                "samples_ms": list(self.samples_ms),
                "samples_cycles": None if self.samples_cycles is None else list(self.samples_cycles),
            }
            record["invoke_ms"] = self.invoke_ms
        record.update(
            arena_bytes=self.arena_bytes,
            flash_bytes=self.flash_bytes,
            macs=self.op.macs,
            source=self.source,
            timestamp=self.timestamp,
        )
        return record

    @classmethod
    def from_json(cls, record: dict) -> "LutEntry":
        latency = record.get("latency") or {}
        return cls(
            op=OpSpec.from_dict(record["op"]),
            samples_ms=latency.get("samples_ms", ()),
            samples_cycles=latency.get("samples_cycles"),
            cold_ms=latency.get("cold_ms"),
            invoke_ms=record.get("invoke_ms"),
            arena_bytes=record.get("arena_bytes"),
            flash_bytes=record.get("flash_bytes"),
            status=record["status"],
            source=record.get("source", ""),
            timestamp=record.get("timestamp", ""),
        )


def _header_line(identity: DeviceIdentity, timing: TimingProtocol | None) -> str:
    header = {
        "format": FORMAT,
        **asdict(identity),
        "timing": None if timing is None else timing.to_dict(),
        "created": datetime.now(timezone.utc).isoformat(),
    }
    return json.dumps({"header": header}) + "\n"


def _not_a_number(constant: str):
    raise ValueError(f"{constant} is not a measured value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _not_a_number(text)
    return value


def _record(line: bytes, path: Path, number: int) -> dict:
    """One line as a JSON object; `DataError` naming the line otherwise."""
    try:
        record = json.loads(line.decode("utf-8"), parse_constant=_not_a_number, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise DataError(f"{path} line {number} is not a valid LUT line ({str(error)[:200]}).") from None
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise DataError(f"{path} line {number} is a JSON {kind}, not a LUT line (an object).")
    return record


def _parse(path: Path) -> tuple[DeviceIdentity, dict[str, LutEntry], int, TimingProtocol | None]:
    """Header identity, entries by key (later lines win), the byte length of the complete lines and the
    header's timing protocol."""
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        log.warning("%s: skipping the half-written last line (%d bytes)", path, len(data) - complete)
    lines = data[:complete].splitlines()
    if not lines:
        raise DataError(f"{path} has no complete header line; delete it and profile again.")
    identity, entries, timing = None, {}, None
    for number, line in enumerate(lines, start=1):
        record = _record(line, path, number)
        try:
            if "header" in record:
                header = dict(record["header"])
                if header.pop("format", None) not in READABLE:
                    raise LutIdentityError(
                        f"{path} line {number} is not a {' or '.join(READABLE)} header (older tables carry "
                        f"no device tag per line); profile again into a new file."
                    )
                header.pop("created", None)
                found_timing = header.pop("timing", None)
                timing = None if found_timing is None else TimingProtocol.from_dict(found_timing)
                found = DeviceIdentity(**header)
                if identity is not None and found != identity:
                    raise LutIdentityError(
                        f"{path} line {number} starts entries of another device "
                        f"({'; '.join(found.differences(identity))}); a table holds one device only."
                    )
                identity = found
                continue
            if identity is None:
                raise DataError(f"{path} does not start with a header line; it is not a micronas LUT file.")
            if record.get("device") != identity.tag():
                raise LutIdentityError(
                    f"{path} line {number} carries the device tag {record.get('device')!r}, not this table's "
                    f"{identity.tag()!r}: it was measured on another device; delete the line and profile "
                    f"again."
                )
            entry = LutEntry.from_json(record)
            entries[entry.op.key()] = entry
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise DataError(f"{path} line {number} is not a valid LUT line ({str(error)[:200]}).") from None
    return identity, entries, complete, timing


def _refuse_other_device(path: Path, expected: DeviceIdentity, found: DeviceIdentity) -> None:
    if found != expected:
        raise LutIdentityError(
            f"{path} was measured on another device ({'; '.join(expected.differences(found))}); "
            f"use a LUT file of this device or a new path."
        )


def read_lut(
    path: str | Path, identity: DeviceIdentity | None = None
) -> tuple[DeviceIdentity, list[LutEntry]]:
    """Read a LUT file: its identity and its entries; refused if `identity` is given and differs."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"the LUT file {path} does not exist.")
    found, entries, _, _ = _parse(path)
    if identity is not None:
        _refuse_other_device(path, identity, found)
    return found, list(entries.values())


def table_timing(path: str | Path) -> TimingProtocol | None:
    """The timing protocol a LUT file's header records (None for a board's table or a micronas-lut/2 file)."""
    return _parse(Path(path))[3]


def timing_for(mcu, rounds: int | None = None, warmups: int | None = None, burst: int | None = None):
    """The timing protocol of `mcu`: None for a board (it times each operator); on the host (a clock,
    in process or as the virtual board) the protocol its table's header records, so that a measured
    Invoke follows its table, else the defaults of `TimingProtocol`; given counts override either."""
    if mcu.board != "host":
        return None
    path = Path(mcu.cost.lut_path)
    recorded = table_timing(path) if path.is_file() and path.stat().st_size > 0 else None
    counts = {"rounds": rounds, "warmups": warmups, "burst": burst}
    return replace(recorded or TimingProtocol(), **{k: v for k, v in counts.items() if v is not None})


def _refuse_other_timing(path: Path, expected: TimingProtocol | None, found: TimingProtocol | None) -> None:
    if found != expected:
        def name(timing):
            return "no round protocol (micronas-lut/2)" if timing is None else str(timing.to_dict())

        raise LutIdentityError(
            f"{path} was timed under {name(found)}, not this run's {name(expected)}: entries of two "
            f"protocols do not add up; profile into a new file or delete this one."
        )


class LookupTable:
    """A LUT file opened for one device: look-ups by OpSpec and append-only, synced writes."""

    def __init__(self, path: str | Path, identity: DeviceIdentity, timing: TimingProtocol | None = None):
        """A host table without `timing` keeps the protocol its file records (a new one: the defaults)."""
        self.path = Path(path)
        self.identity = identity
        self._entries: dict[str, LutEntry] = {}
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists:
            found, self._entries, complete, found_timing = _parse(self.path)
            _refuse_other_device(self.path, identity, found)
        if timing is None and identity.board == "host":
            timing = (found_timing if exists else None) or TimingProtocol()
        self.timing = timing
        if exists:
            _refuse_other_timing(self.path, timing, found_timing)
            if complete < self.path.stat().st_size:
                os.truncate(self.path, complete)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(_header_line(identity, timing))

    def _write(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, entry: LutEntry) -> None:
        """Append one entry and sync it to disk before returning."""
        self._write(json.dumps({"device": self.identity.tag(), **entry.to_json()}, allow_nan=False) + "\n")
        self._entries[entry.op.key()] = entry

    def get(self, op: OpSpec) -> LutEntry | None:
        """The `ok` entry measured for `op`, or None."""
        entry = self._entries.get(op.key())
        return entry if entry is not None and entry.ok else None

    def __contains__(self, op: OpSpec) -> bool:
        """Whether `op` has any entry, failed ones included (a resumed profile skips both)."""
        return op.key() in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[LutEntry]:
        return list(self._entries.values())
