"""`Architecture`: one discrete point of the search space, its JSON file, derivation and operator list.

An architecture JSON file looks like this (cell fields are exactly the decision names of
`micronas.space.searchspace.DECISIONS`; reducing SF cells have no `skip`)::

    {"input_shape": [128, 9], "num_classes": 6,
     "cells": [{"type": "tr", "kernel": 5, "width": 8}, ...,
               {"type": "sf_reduce", "bottleneck_width": 16, "block_width": 32,
                "branch3": true, "branch5": false, "branch7": true, "residual": true},
               {"type": "sf", ..., "skip": false}, ...],
     "costs": {"latency_ms": 12.5, "latency_unit": "ms", "arena_bytes": 41216, "flash_bytes": 98304}}

`costs` is free-form metadata (predicted and measured costs) carried along; it takes no part in
equality.
"""

import json
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path

import numpy as np
import torch

from micronas.errors import MicronasError
from micronas.space.cells import CellStep, cell_steps, head_ops
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import BRANCH_KERNELS, DECISIONS, CellPlan, SearchSpace


class ArchitectureError(MicronasError):
    """An architecture (JSON file or choices) that is not a valid member of its search space."""


@dataclass(frozen=True)
class TRCell:
    """Time-Reduce cell: one `(kernel, 1)` conv, stride `(2, 1)`, `width` output channels."""

    kernel: int
    width: int

    type = "tr"


class _SFCellMethods:
    """What an `SFCell` answers besides its decision values."""

    @property
    def type(self) -> str:
        return "sf_reduce" if self.reducing else "sf"

    @property
    def branches_on(self) -> tuple[int, ...]:
        """Kernel heights of the branches that are on, in the order of `BRANCH_KERNELS`."""
        return tuple(k for k in BRANCH_KERNELS if getattr(self, f"branch{k}"))

    @property
    def degenerate(self) -> bool:
        """A used cell with no branch and no residual has no output."""
        return not self.skip and not self.branches_on and not self.residual


# The fields follow the decisions: reducing, bottleneck_width, block_width, branch{k} for each branch kernel,
# residual, skip (False by default).
SFCell = make_dataclass(
    "SFCell",
    [("reducing", bool)]
    + [(name, type(values[0])) for name, values in DECISIONS["sf"] if name != "skip"]
    + [("skip", bool, False)],
    bases=(_SFCellMethods,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "Sensor-Fusion cell: bottleneck conv, temporal branches each on or off, optional residual."
        "\n\n    `skip` (non-reducing cells only) replaces the whole cell by the identity.",
    },
)


Cell = TRCell | SFCell


def _cell_from_choices(cell_type: str, choices: dict) -> Cell:
    if cell_type == "tr":
        return TRCell(**choices)
    return SFCell(reducing=cell_type == "sf_reduce", **choices)


def _cell_choices(cell: Cell) -> dict:
    """The decision values of a cell, keyed by decision name, in decision order."""
    return {name: getattr(cell, name) for name, _ in DECISIONS[cell.type]}


def _same_type(value, options) -> bool:
    """Booleans for on/off options, plain integers for the others (JSON `1` is not `true`)."""
    if isinstance(options[0], bool):
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    """Discrete choices of every cell, for `input_shape = (time_steps, channels)` and `num_classes`."""

    input_shape: tuple[int, int]
    num_classes: int
    cells: tuple[Cell, ...]
    costs: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "cells", tuple(self.cells))
        self._validate()

    # ---- validation -------------------------------------------------------------------------------

    @property
    def space(self) -> SearchSpace:
        return SearchSpace(*self.input_shape, self.num_classes)

    def _validate(self) -> None:
        shape, classes = self.input_shape, self.num_classes
        if (
            len(shape) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
            or not isinstance(classes, int)
            or isinstance(classes, bool)
            or classes < 2
        ):
            raise ArchitectureError(
                f"architecture input_shape={list(shape)} and num_classes={classes} are not valid; "
                "input_shape must be [time_steps, channels] of positive integers and num_classes at least 2."
            )
        plans = self.space.cells
        expected = [plan.type for plan in plans]
        actual = [getattr(cell, "type", type(cell).__name__) for cell in self.cells]
        if actual != expected:
            raise ArchitectureError(
                f"architecture cells {actual} do not match the space of a {shape[0]}x{shape[1]} window, "
                f"which has the cells {expected}."
            )
        for index, cell in enumerate(self.cells):
            for name, options in DECISIONS[cell.type]:
                value = getattr(cell, name)
                if not _same_type(value, options) or value not in options:
                    raise ArchitectureError(
                        f"architecture cell {index} ({cell.type}): {name}={json.dumps(value)} is not valid; "
                        f"valid values are {', '.join(json.dumps(o) for o in options)}."
                    )
            if isinstance(cell, SFCell) and cell.reducing and cell.skip:
                raise ArchitectureError(f"architecture cell {index} (sf_reduce) cannot be skipped.")
            if isinstance(cell, SFCell) and cell.degenerate:
                raise ArchitectureError(
                    f"architecture cell {index} ({cell.type}) has no branch on and no residual, so it has "
                    "no output; switch on a branch or the residual, or skip the cell."
                )

    def check_compatible(self, time_steps: int, channels: int, num_classes: int, source: str) -> None:
        """Refuse to use this architecture for data of another window shape or class count."""
        if (self.input_shape, self.num_classes) != ((time_steps, channels), num_classes):
            t, s = self.input_shape
            raise ArchitectureError(
                f"the architecture is for {t}x{s} windows and {self.num_classes} classes but {source} has "
                f"{time_steps}x{channels} windows and {num_classes} classes; derive an architecture for it."
            )

    # ---- JSON -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "cells": [{"type": cell.type, **_cell_choices(cell)} for cell in self.cells],
            "costs": dict(self.costs),
        }

    @classmethod
    def from_dict(cls, data) -> "Architecture":
        """Parse and validate; any problem raises `ArchitectureError` with one sentence."""
        if not isinstance(data, dict):
            raise ArchitectureError(f"an architecture must be a JSON object, not {type(data).__name__}.")
        required, optional = {"input_shape", "num_classes", "cells"}, {"costs"}
        _check_keys("the architecture", set(data), required, optional)
        if not isinstance(data["input_shape"], list) or not isinstance(data["cells"], list):
            raise ArchitectureError("architecture input_shape and cells must be JSON lists.")
        if not isinstance(data.get("costs", {}), dict):
            raise ArchitectureError("architecture costs must be a JSON object.")
        cells = []
        for index, entry in enumerate(data["cells"]):
            cell_type = entry.get("type") if isinstance(entry, dict) else None
            if not isinstance(cell_type, str) or cell_type not in DECISIONS:
                raise ArchitectureError(
                    f"architecture cell {index} must be an object whose type is one of "
                    f"{', '.join(DECISIONS)}."
                )
            names = {name for name, _ in DECISIONS[entry["type"]]}
            _check_keys(f"architecture cell {index} ({entry['type']})", set(entry) - {"type"}, names, set())
            cells.append(_cell_from_choices(entry["type"], {n: v for n, v in entry.items() if n != "type"}))
        return cls(tuple(data["input_shape"]), data["num_classes"], tuple(cells), dict(data.get("costs", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ArchitectureError(f"the architecture is not valid JSON: {error}.") from None
        return cls.from_dict(data)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path) -> "Architecture":
        path = Path(path)
        if not path.is_file():
            raise ArchitectureError(f"architecture file {path} does not exist.")
        try:
            return cls.from_json(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise ArchitectureError(f"{path} is not UTF-8 text; an architecture file is JSON.") from None
        except ArchitectureError as error:
            raise ArchitectureError(f"{path}: {error}") from None

    # ---- relaxed choices ---------------------------------------------------------------------------

    def one_hot(self) -> dict[str, torch.Tensor]:
        """This architecture as relaxed choices: `{decision key: one-hot float tensor}`."""
        weights = {}
        for decision in self.space.decisions:
            vector = torch.zeros(decision.ways)
            vector[decision.options.index(getattr(self.cells[decision.cell], decision.name))] = 1.0
            weights[decision.key] = vector
        return weights

    @classmethod
    def derive(cls, space: SearchSpace, logits: dict) -> "Architecture":
        """Argmax of every decision; a used SF cell with no branch and no residual deploys as its residual.

        A branch is on iff its "on" logit is strictly larger. The degenerate cell becomes its residual, the
        way the supernet and the expected costs relax it (`residual_runs`), not the way docs/method.md §4.4
        repairs it (the most probable branch): the residual is the cheaper fix, and the relaxation prices it.
        """
        choices = [{} for _ in space.cells]
        for decision in space.decisions:
            vector = torch.as_tensor(logits[decision.key]).detach().reshape(-1)
            if vector.numel() != decision.ways:
                raise ValueError(
                    f"logits {decision.key} have {vector.numel()} entries, expected {decision.ways}"
                )
            choices[decision.cell][decision.name] = decision.options[int(torch.argmax(vector))]
        for plan, cell_choices in zip(space.cells, choices):
            if plan.type == "tr" or cell_choices.get("skip"):
                continue
            if not any(cell_choices[f"branch{k}"] for k in BRANCH_KERNELS):
                cell_choices["residual"] = True
        cells = tuple(_cell_from_choices(plan.type, c) for plan, c in zip(space.cells, choices))
        return cls(space.input_shape, space.num_classes, cells)

    @classmethod
    def random(cls, space: SearchSpace, rng: np.random.Generator) -> "Architecture":
        """Every decision uniform at random; degenerate cells are resampled (docs/method.md §10)."""
        cells = []
        for plan in space.cells:
            while True:
                choices = {
                    name: options[rng.integers(len(options))] for name, options in DECISIONS[plan.type]
                }
                cell = _cell_from_choices(plan.type, choices)
                if not getattr(cell, "degenerate", False):
                    break
            cells.append(cell)
        return cls(space.input_shape, space.num_classes, tuple(cells))

    @classmethod
    def largest(cls, space: SearchSpace) -> "Architecture":
        """Widest kernels and widths, every branch and residual on, no cell skipped."""
        cells = []
        for plan in space.cells:
            choices = {name: options[-1] for name, options in DECISIONS[plan.type]}
            if plan.type == "sf":
                choices["skip"] = False
            cells.append(_cell_from_choices(plan.type, choices))
        return cls(space.input_shape, space.num_classes, tuple(cells))

    # ---- deployed operators --------------------------------------------------------------------------

    def ops(self) -> list[OpSpec]:
        """The int8 operators TFLM runs, in the exporter's fixed order (docs/method.md §6.2).

        Skipped cells and dead bottlenecks (no branch on) are not emitted.
        """
        ops = [step.op for cell in self.cell_steps() for step in cell]
        return ops + head_ops(self.space, ops[-1].output_shape[-1])

    def cell_steps(self) -> list[list[CellStep]]:
        """Each cell's operators with the tensors they read and write (`micronas.space.cells.cell_steps`)."""
        steps, channels = [], 1
        for plan, cell in zip(self.space.cells, self.cells):
            steps.append(cell_steps(plan, cell, channels))
            if steps[-1]:
                channels = steps[-1][-1].op.output_shape[-1]
        return steps

    def describe(self) -> str:
        """One line per cell, for logs and the CLI."""
        lines = []
        for index, cell in enumerate(self.cells):
            values = ", ".join(
                f"{f.name}={getattr(cell, f.name)}" for f in fields(cell) if f.name != "reducing"
            )
            lines.append(f"cell {index} {cell.type}: {values}")
        return "\n".join(lines)


def residual_runs(residual: torch.Tensor, any_branch: torch.Tensor) -> torch.Tensor:
    """P(the residual conv of a used SF cell runs): it is chosen, or no branch is on.

    A used cell with no branch and no residual would output nothing; it deploys as its residual (see
    `Architecture.derive`), and the supernet and the expected costs relax it the same way, so that no
    relaxed network is cheaper than every valid one.
    """
    return 1 - any_branch + residual * any_branch


def cell_ops(plan: CellPlan, cell, in_channels: int) -> list[OpSpec]:
    """The ops one cell runs on a `(H_in, W_in, in_channels)` input, as `Architecture.ops()` emits them."""
    return [step.op for step in cell_steps(plan, cell, in_channels)]


def _check_keys(what: str, present: set, required: set, optional: set) -> None:
    missing, unknown = sorted(required - present), sorted(present - required - optional)
    if missing:
        raise ArchitectureError(f"{what} lacks {', '.join(missing)}; it needs {', '.join(sorted(required))}.")
    if unknown:
        raise ArchitectureError(
            f"{what} has the unknown field {unknown[0]}; valid fields are "
            f"{', '.join(sorted(required | optional))}."
        )
