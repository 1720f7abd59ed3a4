"""Print the search space of a dataset: its cells, decisions, architecture logits and size.

    python -m micronas.space info dataset=ucihar     (the first argument is the command: info)

The dataset config's `time_steps`, `channels` and `num_classes` are read; a config without them
(`dataset=npz`) has its file read for them.
"""

import sys

from micronas.cli import override_parser, parse
from micronas.config import load_config
from micronas.errors import ConfigError, exit_on_user_error
from micronas.space.searchspace import SearchSpace

COMMANDS = ("info",)


def describe_space(space: SearchSpace) -> str:
    """A human-readable summary: macro structure, decisions per cell, logit count, size."""
    t, s = space.input_shape
    lines = [f"window {t}x{s}, {space.num_classes} classes, {len(space.cells)} cells"]
    for cell in space.cells:
        (hi, wi), (ho, wo) = cell.input_hw, cell.output_hw
        decisions = [d for d in space.decisions if d.cell == cell.index]
        ways = ", ".join(f"{d.name}({d.ways})" for d in decisions)
        lines.append(
            f"  cell {cell.index} {cell.type:<9} {hi}x{wi} -> {ho}x{wo}  "
            f"{sum(d.ways for d in decisions)} logits: {ways}; {space.cell_outcomes(cell)} outcomes"
        )
    h, w = space.head_hw
    lines.append(f"  head: 1x1 conv -> {h}x{w}x{space.num_classes}, MEAN, SOFTMAX")
    lines.append(f"decisions: {len(space.decisions)}, architecture logits: {space.logit_count}")
    lines.append(f"discrete architectures: {space.size:.3g} ({space.size})")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str]) -> None:
    parser = override_parser("python -m micronas.space", __doc__, "info dataset=ucihar")
    overrides = parse(parser, argv).overrides
    if not overrides or overrides[0] not in COMMANDS:
        given = overrides[0] if overrides else "nothing"
        raise ConfigError(
            f"the command {given!r} is not known; valid commands are: {', '.join(COMMANDS)} "
            "(e.g. python -m micronas.space info dataset=ucihar)."
        )
    cfg = load_config("search", overrides[1:])
    print(f"dataset={cfg.dataset.name}")
    print(describe_space(SearchSpace.from_config(cfg)))


if __name__ == "__main__":
    main(sys.argv[1:])
