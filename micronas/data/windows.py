"""Labelled windows, the splits a loader hands to the DataModule, and the checks every dataset passes."""

from dataclasses import dataclass

import numpy as np

from micronas.errors import DataError


@dataclass(frozen=True)
class WindowSet:
    """Windows `x` float32 [N, T, S] (time, sensor channels), labels `y` int64 [N] in 0..K-1, and
    subject ids int64 [N] where the dataset has them."""

    x: np.ndarray
    y: np.ndarray
    subjects: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> "WindowSet":
        """The windows at `index`, in that order."""
        subjects = None if self.subjects is None else self.subjects[index]
        return WindowSet(self.x[index], self.y[index], subjects)


@dataclass(frozen=True)
class LoadedDataset:
    """What a loader returns: the raw (unnormalised) splits of one dataset under one protocol.

    `val` is None when the DataModule should draw arch-val from `train` (by subject where subject ids
    exist, else stratified); protocols that define their own arch-val block set it.
    """

    train: WindowSet
    test: WindowSet
    class_names: list[str]
    channel_names: list[str]
    protocol: str
    val: WindowSet | None = None


def count_nan(values: np.ndarray) -> int:
    """Number of NaN entries."""
    return int(np.count_nonzero(np.isnan(values)))


def check_no_nan(values: np.ndarray, where: str) -> None:
    """Raise `DataError` naming `where` and the count if `values` holds NaNs or infinities."""
    nan = count_nan(values)
    if nan:
        raise DataError(f"{where} contains {nan} NaN values; remove or fill them before training.")
    infinite = int(np.count_nonzero(np.isinf(values)))
    if infinite:
        raise DataError(f"{where} contains {infinite} infinite values; remove or clip them before training.")


def check_window_set(windows: WindowSet, where: str, num_classes: int) -> None:
    """Shapes, dtypes-compatible values and label range of one split; one sentence on failure."""
    if windows.x.ndim != 3:
        raise DataError(f"{where} has windows of shape {windows.x.shape}; expected [N, T, S] (3 dimensions).")
    if windows.y.shape != (windows.x.shape[0],):
        raise DataError(
            f"{where} has {windows.x.shape[0]} windows but labels of shape {windows.y.shape}; "
            f"expected one label per window."
        )
    if windows.subjects is not None and windows.subjects.shape != windows.y.shape:
        raise DataError(
            f"{where} has {len(windows.y)} windows but subject ids of shape {windows.subjects.shape}; "
            f"expected one subject id per window."
        )
    check_no_nan(windows.x, where)
    outside = (windows.y < 0) | (windows.y >= num_classes)
    if outside.any():
        raise DataError(
            f"{where} has label {int(windows.y[outside][0])}, outside the {num_classes} classes "
            f"0..{num_classes - 1}."
        )


def check_every_class_present(labels: np.ndarray, class_names: list[str], where: str) -> None:
    """Raise `DataError` if some class has no window in `labels`."""
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    if empty:
        raise DataError(
            f"class '{empty[0]}' has no windows in {where}; every one of the {len(class_names)} classes "
            f"needs at least one window there (drop the class or choose another split)."
        )


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Windows per class, int64 [num_classes]."""
    return np.bincount(labels, minlength=num_classes)
