"""Fallback latency predictor (docs/method.md §7.4): one non-negative linear model per operator group.

Groups are the op kinds, with convolutions split by kernel class (temporal `(k,1)`, sensor `(1,k>1)`,
pointwise `1x1`) because kernel libraries run them on different code paths. Two feature sets exist:

- `plain`, the form of docs/method.md §7.4: `const + MACs + N_out + N_in` for convolutions,
  `const + N_out` for ADD and SOFTMAX, `const + N_out + N_in` for MEAN.
- `extended`: the plain convolution terms plus the three sizes of CMSIS-NN's im2col loop, which the
  plain form cannot express: output positions `H_out*W_out` (per-position set-up), kernel taps
  `H_out*W_out*k_h*k_w` (per-tap bounds checks and padding) and im2col elements `taps*C_in` (the int8 to
  int16 copy). They matter most where MACs are few per tap, e.g. `C_in = 1` or narrow layers. A fourth
  term, `tail16 = N_out * (k_h*k_w*C_in mod 16)`, counts the MACs left over after the kernels' dot
  products consume 16 int8 values per step; those run in a slower scalar tail (visible as +-10 %
  residuals alternating with `C_in mod 16` in the plain fit of 1x1 convolutions).

Coefficients are fitted by non-negative least squares in the table's unit: cycles where the device
counts them (converted to ms with the board clock), ms otherwise. A group with fewer entries than
regressors (typically MEAN and SOFTMAX, measured once per input shape) cannot determine them; it gets a
proportional model on its size term instead (`SIZE_FEATURE`), so a new shape scales with its size.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from micronas.cost.lut import LutEntry
from micronas.errors import ConfigError
from micronas.space.opspec import OpSpec

FEATURE_SETS = ("plain", "extended")
SIZE_FEATURE = {"add": "output_elements", "softmax": "output_elements", "mean": "input_elements"}


def op_group(op: OpSpec) -> str:
    """The predictor group of an op: its kind, convolutions split by kernel class."""
    if op.kind != "conv2d":
        return op.kind
    kh, kw = op.kernel
    if kh == 1 and kw == 1:
        return "conv_pointwise"
    return "conv_sensor" if kh == 1 else "conv_temporal"


def features(op: OpSpec, feature_set: str) -> dict[str, float]:
    """The named regressors of `op` (a constant included) under `feature_set`."""
    values = {"const": 1.0, "output_elements": float(op.output_elements)}
    if op.kind in ("conv2d", "mean"):
        values["input_elements"] = float(op.input_elements)
    if op.kind == "conv2d":
        values["macs"] = float(op.macs)
        if feature_set == "extended":
            positions = op.output_shape[0] * op.output_shape[1]
            taps = positions * op.kernel[0] * op.kernel[1]
            depth = op.kernel[0] * op.kernel[1] * op.input_shape[-1]
            values.update(
                positions=float(positions),
                taps=float(taps),
                im2col=float(taps * op.input_shape[-1]),
                tail16=float(op.output_elements * (depth % 16)),
            )
    return values


def _target(entry: LutEntry, unit: str, statistic: str) -> float:
    return entry.latency_cycles if unit == "cycles" else entry.latency(statistic)


def fit_group(ops: list[OpSpec], targets: np.ndarray, feature_set: str) -> dict[str, float]:
    """Non-negative least squares of `targets` on the ops' features (columns scaled for conditioning)."""
    names = list(features(ops[0], feature_set))
    if len(ops) < len(names):
        names = [SIZE_FEATURE.get(op_group(ops[0]), "macs")]
    matrix = np.array([[features(op, feature_set)[n] for n in names] for op in ops])
    scale = np.abs(matrix).max(axis=0)
    scale[scale == 0] = 1.0
    solution, _ = nnls(matrix / scale, np.asarray(targets, dtype=float), maxiter=50 * len(names))
    return {name: float(f"{value:.6g}") for name, value in zip(names, solution / scale)}


@dataclass(frozen=True)
class LatencyPredictor:
    """Per-group non-negative linear latency models; `predict_ms(op)` for any op of a fitted group."""

    feature_set: str
    unit: str  # "cycles" or "ms": the unit the coefficients produce
    clock_hz: int | None
    coefficients: dict[str, dict[str, float]]

    @classmethod
    def fit(
        cls,
        entries: list[LutEntry],
        feature_set: str = "extended",
        clock_hz: int | None = None,
        statistic: str = "median",
    ):
        """Fit every group present among the `ok` entries: on their median cycles where all have cycles,
        else on their ms by `statistic`."""
        if feature_set not in FEATURE_SETS:
            raise ConfigError(
                f"predictor features {feature_set!r} is not valid; valid sets are: {', '.join(FEATURE_SETS)}."
            )
        usable = [e for e in entries if e.ok]
        unit = "cycles" if clock_hz and all(e.latency_cycles is not None for e in usable) else "ms"
        by_group: dict[str, list[LutEntry]] = {}
        for entry in usable:
            by_group.setdefault(op_group(entry.op), []).append(entry)
        coefficients = {
            group: fit_group(
                [e.op for e in group_entries],
                np.array([_target(e, unit, statistic) for e in group_entries]),
                feature_set,
            )
            for group, group_entries in by_group.items()
        }
        return cls(feature_set, unit, clock_hz if unit == "cycles" else None, coefficients)

    def predict(self, op: OpSpec) -> float:
        """Predicted latency of `op` in the predictor's unit (cycles or ms)."""
        group = op_group(op)
        if group not in self.coefficients:
            raise ConfigError(
                f"the latency predictor has no {group} model "
                f"(fitted groups: {', '.join(self.coefficients)}); "
                f"measure at least one {group} entry for this device."
            )
        values = features(op, self.feature_set)
        return sum(beta * values[name] for name, beta in self.coefficients[group].items())

    def predict_ms(self, op: OpSpec) -> float:
        value = self.predict(op)
        return 1000.0 * value / self.clock_hz if self.unit == "cycles" else value

    def to_config(self) -> dict:
        """The plain-data form stored in an MCU config's `cost.predictor`."""
        return {"features": self.feature_set, "unit": self.unit, "coefficients": self.coefficients}

    @classmethod
    def from_config(cls, predictor, clock_hz: int | None) -> "LatencyPredictor":
        """Rebuild from an MCU config's `cost.predictor` section."""
        unit = str(predictor["unit"])
        if unit == "cycles" and not clock_hz:
            raise ConfigError(
                "cost.predictor.unit=cycles needs the board's clock_hz; set clock_hz or refit in ms."
            )
        coefficients = {
            str(g): {str(n): float(v) for n, v in c.items()} for g, c in predictor["coefficients"].items()
        }
        return cls(str(predictor["features"]), unit, clock_hz if unit == "cycles" else None, coefficients)
