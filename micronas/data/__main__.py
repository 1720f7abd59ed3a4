"""Load a dataset and print its splits, window shape, channels and class balance (nothing is trained).

    python -m micronas.data dataset=japanesevowels
    python -m micronas.data dataset=npz dataset.path=/abs/path/data.npz
"""

import sys

import numpy as np

from micronas.cli import override_parser, parse
from micronas.config import load_config
from micronas.data.datamodule import TimeSeriesDataModule, make_datamodule
from micronas.errors import exit_on_user_error


def summary(dm: TimeSeriesDataModule) -> str:
    """Windows per split, channels, length, classes and class balance, as a printable table."""
    time_steps, channels = dm.input_shape
    labels = {split: dm.windows(split).y for split in ("train", "arch-val", "test")}
    width = max(len(name) for name in dm.class_names + ["class"])
    lines = [
        f"dataset {dm.name}: protocol {dm.protocol}",
        f"windows: {time_steps} time steps x {channels} channels ({', '.join(dm.channel_names)})",
        f"classes: {dm.num_classes}",
        f"{'class':<{width}}  " + "  ".join(f"{split:>17}" for split in labels),
    ]
    counts = {split: np.bincount(y, minlength=dm.num_classes) for split, y in labels.items()}
    for i, name in enumerate(dm.class_names):
        cells = [f"{counts[s][i]:>7} ({100 * counts[s][i] / max(len(labels[s]), 1):5.1f} %)" for s in labels]
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{len(y):>17}" for y in labels.values()))
    if dm.val_subjects is not None:
        lines.append(f"arch-val subjects: {', '.join(map(str, dm.val_subjects))}")
    mean, std = dm.normalization
    lines.append(f"z-score fitted on the {len(labels['train'])} weight-training windows only")
    lines.append(f"  mean {np.array2string(mean, precision=3, max_line_width=200)}")
    lines.append(f"  std  {np.array2string(std, precision=3, max_line_width=200)}")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str]) -> None:
    parser = override_parser("python -m micronas.data", __doc__, "dataset=ucihar data_dir=/data")
    cfg = load_config("search", parse(parser, argv).overrides)
    dm = make_datamodule(cfg)
    dm.setup()
    print(summary(dm))


if __name__ == "__main__":
    main(sys.argv[1:])
