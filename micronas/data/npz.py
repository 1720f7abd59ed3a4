"""Your own data as one `.npz` file: X [N, C, T], y [N]; optional subjects, split, class and channel names."""

import zipfile
from pathlib import Path

import numpy as np

from micronas.data.splits import stratified_split, subject_split
from micronas.data.windows import LoadedDataset, WindowSet, check_no_nan
from micronas.errors import DataError

REQUIRED = ("X", "y")
SPLITS = ("train", "val", "test")


def _labels(y: np.ndarray, names: np.ndarray | None, path: Path) -> tuple[np.ndarray, list[str]]:
    """Labels as 0..K-1 with their class names: `y` indexes `class_names` if given, else its sorted values."""
    if names is None:
        values, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64), [str(v) for v in values]
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(names):
        raise DataError(
            f"y in {path} must hold integers 0..{len(names) - 1}, as the file has {len(names)} class_names."
        )
    return y.astype(np.int64), [str(n) for n in names]


def _drawn_test(labels: np.ndarray, subjects: np.ndarray | None, fraction: float, seed: int) -> np.ndarray:
    """Which windows are test in a file without a split: by subject if there are ids, else stratified."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    if subjects is not None and len(np.unique(subjects)) > 1:
        count = max(1, int(round(fraction * len(np.unique(subjects)))))
        is_test[subject_split(subjects, count, rng)[1]] = True
    else:
        is_test[stratified_split(labels, fraction, rng)[1]] = True
    return is_test


def _check_layout(x: np.ndarray, channel_names: np.ndarray | None, path: Path) -> None:
    """Refuse an X that looks saved as [N, T, C]: sensors have far fewer channels than a window has time
    steps, so more "channels" than time steps is a transposed file unless `channel_names` confirm it."""
    _, channels, steps = x.shape
    named = None if channel_names is None else len(channel_names)
    if named == channels or (named is None and channels <= steps) or named not in (None, steps):
        return  # as stated, or a channel_names length that the check of channel_names reports
    raise DataError(
        f"X in {path} has shape {x.shape}, read as {channels} channels of {steps} time steps, which looks "
        f"like [N, T, C] saved for [N, C, T]; save np.transpose(X, (0, 2, 1)), or give channel_names "
        f"[{channels}] if the windows really have {channels} channels."
    )


def load_npz(dataset_cfg, seed: int) -> LoadedDataset:
    """Load the `.npz` at `dataset_cfg.path`; see the README for the keys."""
    path = Path(str(dataset_cfg.path))
    if not path.is_file():
        raise DataError(f"dataset.path={path} does not exist; give the path of your .npz file.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(
                f"dataset.path={path} holds one array (a .npy file); an npz dataset is one .npz file with X "
                f"and y, saved with np.savez(path, X=X, y=y)."
            )
        with loaded as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file ({error}).") from None
    for key in REQUIRED:
        if key not in arrays:
            raise DataError(
                f"{path} has no '{key}' array (it has: {', '.join(arrays) or 'nothing'}); an npz dataset "
                f"needs X [N, C, T] and y [N], optionally subjects [N], split [N], class_names [K] and "
                f"channel_names [C]."
            )
    x, y = arrays["X"], arrays["y"]
    if x.ndim != 3 or 0 in x.shape:
        raise DataError(
            f"X in {path} has shape {x.shape}; expected [N, C, T] (windows, channels, time steps), none 0."
        )
    _check_layout(x, arrays.get("channel_names"), path)
    for key in ("y", "subjects", "split"):
        if key in arrays and arrays[key].shape != (len(x),):
            raise DataError(
                f"{key} in {path} has shape {arrays[key].shape}; expected ({len(x)},), one per window of X."
            )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"X in {path} has dtype {x.dtype}; expected numbers.")
    check_no_nan(x.astype(np.float32), f"X in {path}")
    labels, class_names = _labels(y, arrays.get("class_names"), path)
    if len(class_names) < 2:
        raise DataError(
            f"y in {path} holds the one class {class_names[0]!r}; a classifier needs two or more.")
    if "subjects" in arrays and not np.issubdtype(arrays["subjects"].dtype, np.integer):
        raise DataError(
            f"subjects in {path} has dtype {arrays['subjects'].dtype}; expected integer subject ids.")
    subjects = arrays["subjects"].astype(np.int64) if "subjects" in arrays else None
    channels = (
        [str(c) for c in arrays["channel_names"]]
        if "channel_names" in arrays
        else [f"channel_{i}" for i in range(x.shape[1])]
    )
    if len(channels) != x.shape[1]:
        raise DataError(f"channel_names in {path} has {len(channels)} names but X has {x.shape[1]} channels.")
    if "split" in arrays:
        split = arrays["split"].astype(str)
        unknown = sorted(set(split) - set(SPLITS))
        if unknown:
            raise DataError(
                f"split in {path} has the value '{unknown[0]}'; valid values are train, val and test."
            )
    else:
        split = np.where(
            _drawn_test(labels, subjects, float(dataset_cfg.test_fraction), seed), "test", "train"
        )
    windows = WindowSet(np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float32), labels, subjects)
    part = {name: windows.take(np.flatnonzero(split == name)) for name in SPLITS}
    return LoadedDataset(
        train=part["train"],
        test=part["test"],
        class_names=class_names,
        channel_names=channels,
        protocol="npz (file split)" if "split" in arrays else "npz (drawn test split)",
        val=part["val"] if len(part["val"]) else None,
    )
