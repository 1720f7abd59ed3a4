"""SkodaR: Skoda mini checkpoint, right arm; 30 calibrated acceleration channels, 64-sample windows.

`right_classall_clean.mat` holds one matrix of the same name, one row per sample (about 98 Hz).
Per the dataset's readme, column 1 is the label and, for sensor s = 0..9, column 2+7s is the sensor id,
columns 3+7s..5+7s the calibrated x, y, z acceleration (milli-g) and 6+7s..8+7s the raw ADC x, y, z
(1-based), so the matrix has 71 columns.
"""

import io
from pathlib import Path

import numpy as np
import scipy.io

from micronas.data.archive import open_zip, read_member
from micronas.data.download import fetch_verified
from micronas.data.windows import LoadedDataset, WindowSet, count_nan
from micronas.errors import DataError

SENSORS = 10
COLUMNS = 1 + 7 * SENSORS
CALIBRATED_COLUMNS = [2 + 7 * s + axis for s in range(SENSORS) for axis in range(3)]  # 0-based
CHANNELS = [f"sensor{s}_acc_{axis}" for s in range(SENSORS) for axis in "xyz"]
NULL_LABEL = 32
GESTURE_LABELS = list(range(48, 58))
CLASS_NAMES = [
    "write_on_notepad", "open_hood", "close_hood", "check_gaps_front_door", "open_left_front_door",
    "close_left_front_door", "close_both_left_doors", "check_trunk_gaps", "open_and_close_trunk",
    "check_steering_wheel",
]  # fmt: skip
MAT_FILE = "right_classall_clean.mat"
# Caps on what is read (micronas.data.archive): the archive holds a few .mat files and a readme (plus
# __MACOSX copies); 71 float64 columns at 98 Hz take 200 MB per hour of recording, so 1 GiB allows five.
MAX_MEMBERS, MAX_MAT_BYTES = 64, 1 << 30
PROTOCOLS = ("temporal", "random-folds")
TEMPORAL_SHARES = (0.7, 0.1, 0.2)  # train, arch-val, test
FOLDS = 5


def read_recording(mat_bytes: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(signals float32 [n, 30] in file order, raw labels int64 [n]) from the `.mat` file's bytes."""
    try:
        contents = scipy.io.loadmat(io.BytesIO(mat_bytes))
    except Exception as error:  # scipy raises many types (MatReadError, IndexError, ...) on damaged files
        raise DataError(
            f"{name} is not a readable MATLAB file ({error}); replace it with the official file."
        ) from None
    key = Path(MAT_FILE).stem
    if key not in contents:
        found = ", ".join(k for k in contents if not k.startswith("__")) or "none"
        raise DataError(f"{name} has no matrix '{key}' (found: {found}); it is not the official SkodaR file.")
    matrix = np.asarray(contents[key])
    if matrix.ndim != 2 or matrix.shape[1] != COLUMNS:
        raise DataError(
            f"{name} holds a matrix of shape {matrix.shape}; expected [samples, {COLUMNS}] "
            f"(label + 10 sensors x (id, calibrated xyz, raw xyz))."
        )
    nan = count_nan(matrix[:, [0] + CALIBRATED_COLUMNS])
    if nan:
        raise DataError(
            f"{name} contains {nan} NaN values in its label or calibrated columns; replace the file."
        )
    labels = matrix[:, 0].astype(np.int64)
    unknown = sorted(set(np.unique(labels)) - {NULL_LABEL, *GESTURE_LABELS})
    if unknown:
        raise DataError(f"{name} has label {unknown[0]}; valid labels are {NULL_LABEL} (null) and 48..57.")
    return matrix[:, CALIBRATED_COLUMNS].astype(np.float32), labels


def window_starts(start: int, stop: int, length: int) -> np.ndarray:
    """Starts of non-overlapping windows of `length` that fit in [start, stop)."""
    return np.arange(start, stop - length + 1, length, dtype=np.int64)


def cut_windows(signals: np.ndarray, labels: np.ndarray, starts: np.ndarray, length: int) -> WindowSet:
    """Windows at `starts` with their majority label (ties go to the smaller raw label); null-majority
    windows are dropped and gesture labels 48..57 become 0..9."""
    index = starts[:, None] + np.arange(length)
    raw = labels[index]
    values = np.arange(NULL_LABEL, GESTURE_LABELS[-1] + 1)
    majority = values[np.argmax((raw[:, :, None] == values).sum(axis=1), axis=1)]
    keep = majority != NULL_LABEL
    x = signals[index[keep]]
    return WindowSet(x.astype(np.float32), majority[keep] - GESTURE_LABELS[0])


def _instances(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Gesture instances as (start, stop, raw label): maximal runs of one non-null label, in time order."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts, stops = np.r_[0, edges], np.r_[edges, len(labels)]
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops) if labels[a] != NULL_LABEL]


def _per_class_counts(instances: int) -> tuple[int, int]:
    """(train, arch-val) instance counts of one class; the rest is test. Each part gets one if it can."""
    train = int(round(TEMPORAL_SHARES[0] * instances))
    val = int(round(TEMPORAL_SHARES[1] * instances))
    if instances >= 3:
        val = max(val, 1)
        train = min(max(train, 1), instances - val - 1)
    return train, val


def temporal_split(
    signals: np.ndarray, labels: np.ndarray, length: int
) -> tuple[WindowSet, WindowSet, WindowSet, str]:
    """Contiguous 70/10/20 blocks with a one-window gap at each boundary, windows cut inside blocks.

    If a block lacks a class, each class's gesture instances are split 70/10/20 in time order instead.
    Returns (train, arch-val, test, protocol description).
    """
    n = len(labels)
    first, second = int(round(TEMPORAL_SHARES[0] * n)), int(round(sum(TEMPORAL_SHARES[:2]) * n))
    blocks = [(0, first), (first + length, second), (second + length, n)]
    parts = [cut_windows(signals, labels, window_starts(a, b, length), length) for a, b in blocks]
    if all(len(np.unique(part.y)) == len(CLASS_NAMES) for part in parts):
        return *parts, "temporal (contiguous blocks)"
    by_split, instances = [[], [], []], _instances(labels)
    for raw_label in GESTURE_LABELS:
        spans = [(a, b) for a, b, label in instances if label == raw_label]
        train, val = _per_class_counts(len(spans))
        for i, span in enumerate(spans):
            by_split[0 if i < train else 1 if i < train + val else 2].append(span)
    parts = []
    for spans in by_split:
        starts = np.concatenate([window_starts(a, b, length) for a, b in spans] or [np.array([], np.int64)])
        parts.append(cut_windows(signals, labels, np.sort(starts), length))
    return *parts, "temporal (per-class instance fallback)"


def random_folds_split(
    signals: np.ndarray, labels: np.ndarray, length: int, fold: int, seed: int
) -> tuple[WindowSet, WindowSet]:
    """Reference-compatible: non-overlapping windows, shuffled (seeded), 5 folds; returns (train, test)."""
    if fold not in range(FOLDS):
        raise DataError(f"dataset.fold={fold} is not valid; choose a fold from 0 to {FOLDS - 1}.")
    windows = cut_windows(signals, labels, window_starts(0, len(labels), length), length)
    folds = np.array_split(np.random.default_rng(seed).permutation(len(windows)), FOLDS)
    test = np.sort(folds[fold])
    train = np.sort(np.concatenate([f for i, f in enumerate(folds) if i != fold]))
    return windows.take(train), windows.take(test)


def load_skodar(dataset_cfg, data_dir: Path, seed: int) -> LoadedDataset:
    """Load SkodaR from `<data_dir>/skodar/` (downloading it if needed) under `dataset_cfg.protocol`."""
    if dataset_cfg.protocol not in PROTOCOLS:
        raise DataError(
            f"dataset.protocol={dataset_cfg.protocol} is not valid for skodar; valid: {', '.join(PROTOCOLS)}."
        )
    archive_path = Path(data_dir) / "skodar" / dataset_cfg.archive
    how_to_place = f"download it by hand and place it at {archive_path}"
    fetch_verified(dataset_cfg.url, archive_path, dataset_cfg.sha256, how_to_place)
    with open_zip(archive_path, str(archive_path), MAX_MEMBERS) as archive:
        members = [m for m in archive.namelist() if Path(m).name == MAT_FILE and "__MACOSX" not in m]
        if not members:
            raise DataError(f"{archive_path} has no {MAT_FILE}; it is not the Skoda mini checkpoint archive.")
        mat_bytes = read_member(archive, members[0], str(archive_path), MAX_MAT_BYTES)
    signals, labels = read_recording(mat_bytes, f"{archive_path}:{members[0]}")
    length = int(dataset_cfg.time_steps)
    if dataset_cfg.protocol == "temporal":
        train, val, test, protocol = temporal_split(signals, labels, length)
        return LoadedDataset(train, test, list(CLASS_NAMES), list(CHANNELS), protocol, val=val)
    train, test = random_folds_split(signals, labels, length, int(dataset_cfg.fold), seed)
    return LoadedDataset(
        train, test, list(CLASS_NAMES), list(CHANNELS), f"random-folds (fold {dataset_cfg.fold})"
    )
