"""UCI-HAR: the release's raw inertial signals, 9 channels x 128 samples, official subject split."""

import zipfile
from pathlib import Path

import numpy as np

from micronas.data.archive import open_zip, read_member
from micronas.data.download import fetch_verified, verify_sha256
from micronas.data.windows import LoadedDataset, WindowSet, count_nan
from micronas.errors import DataError

# docs/method.md §8: the fixed channel order (the sensor axis is spatial, so order matters).
CHANNELS = [
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
]  # fmt: skip
WINDOW_SAMPLES = 128
ROOT = "UCI HAR Dataset"
INNER_ARCHIVE = "UCI HAR Dataset.zip"


# Caps on what is read (micronas.data.archive): the release's outer zip holds the 61 MB inner zip and a
# description; the inner one about 60 files (plus __MACOSX copies), the largest read being 15 MB.
OUTER_MEMBERS, INNER_MEMBERS = 16, 1000
OUTER_MEMBER_BYTES, INNER_MEMBER_BYTES = 128 << 20, 64 << 20


def _read_member(archive: zipfile.ZipFile, member: str, archive_name: str) -> bytes:
    return read_member(archive, member, archive_name, INNER_MEMBER_BYTES)


def _parse_matrix(text: bytes, member: str, columns: int) -> np.ndarray:
    """A whitespace-separated text matrix with `columns` values per row, as float32 [rows, columns]."""
    lines = [line for line in text.decode("ascii", errors="replace").splitlines() if line.strip()]
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float32)
    except ValueError as error:
        raise DataError(f"{member} holds a value that is not a number ({error}).") from None
    if values.size != len(lines) * columns:
        bad = next(i for i, line in enumerate(lines) if len(line.split()) != columns)
        raise DataError(
            f"{member} line {bad + 1} has {len(lines[bad].split())} values; every line must have {columns}."
        )
    matrix = values.reshape(len(lines), columns)
    nan = count_nan(matrix)
    if nan:
        raise DataError(
            f"{member} contains {nan} NaN values; the official release has none, so replace the archive."
        )
    return matrix


def _parse_split(archive: zipfile.ZipFile, split: str, archive_name: str) -> WindowSet:
    folder = f"{ROOT}/{split}"
    signals = []
    for channel in CHANNELS:
        member = f"{folder}/Inertial Signals/{channel}_{split}.txt"
        signals.append(_parse_matrix(_read_member(archive, member, archive_name), member, WINDOW_SAMPLES))
    labels_member, subjects_member = f"{folder}/y_{split}.txt", f"{folder}/subject_{split}.txt"
    labels = _parse_matrix(_read_member(archive, labels_member, archive_name), labels_member, 1)[:, 0]
    subjects = _parse_matrix(_read_member(archive, subjects_member, archive_name), subjects_member, 1)[:, 0]
    counts = {f"{c}_{split}.txt": len(s) for c, s in zip(CHANNELS, signals)}
    counts.update({labels_member: len(labels), subjects_member: len(subjects)})
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{name}: {n}" for name, n in counts.items())
        raise DataError(f"the {split} files of UCI-HAR disagree on the number of windows ({listing}).")
    invalid = sorted({float(v) for v in np.unique(labels)} - set(range(1, 7)))
    if invalid:
        raise DataError(f"{labels_member} has the label {invalid[0]:g}; valid labels are 1..6.")
    x = np.stack(signals, axis=-1)  # [N, 128, 9]
    return WindowSet(x, labels.astype(np.int64) - 1, subjects.astype(np.int64))


def _class_names(archive: zipfile.ZipFile, archive_name: str) -> list[str]:
    member = f"{ROOT}/activity_labels.txt"
    rows = [
        line.split()
        for line in _read_member(archive, member, archive_name).decode().splitlines()
        if line.strip()
    ]
    if [row[0] for row in rows] != [str(i) for i in range(1, 7)]:
        raise DataError(
            f"{member} does not list the activities 1..6; it is not the official UCI-HAR release."
        )
    return [row[1].lower() for row in rows]


def parse_inner_archive(inner: zipfile.ZipFile, archive_name: str) -> LoadedDataset:
    """Parse the inner `UCI HAR Dataset.zip` (official split, labels 0..5, subject ids kept)."""
    return LoadedDataset(
        train=_parse_split(inner, "train", archive_name),
        test=_parse_split(inner, "test", archive_name),
        class_names=_class_names(inner, archive_name),
        channel_names=list(CHANNELS),
        protocol="official-subject",
    )


def load_ucihar(dataset_cfg, data_dir: Path) -> LoadedDataset:
    """Load UCI-HAR from `<data_dir>/ucihar/`, downloading and verifying the UCI archive if needed.

    The outer archive (`dataset_cfg.archive`, SHA-256 `dataset_cfg.sha256`) wraps `UCI HAR Dataset.zip`
    (SHA-256 `dataset_cfg.inner_sha256`). A hand-placed inner archive in the same folder is accepted too.
    """
    if dataset_cfg.protocol != "official-subject":
        raise DataError(
            f"dataset.protocol={dataset_cfg.protocol} is not valid for ucihar; valid: official-subject."
        )
    folder = Path(data_dir) / "ucihar"
    outer_path, inner_path = folder / dataset_cfg.archive, folder / INNER_ARCHIVE
    if inner_path.exists() and not outer_path.exists():
        if dataset_cfg.inner_sha256:
            verify_sha256(inner_path, dataset_cfg.inner_sha256)
        return parse_inner_archive(open_zip(inner_path, str(inner_path), INNER_MEMBERS), str(inner_path))
    how_to_place = (
        f"download it by hand and place it at {outer_path} (or its inner '{INNER_ARCHIVE}' at {inner_path})"
    )
    fetch_verified(dataset_cfg.url, outer_path, dataset_cfg.sha256, how_to_place)
    outer = open_zip(outer_path, str(outer_path), OUTER_MEMBERS)
    inner_bytes = read_member(outer, INNER_ARCHIVE, str(outer_path), OUTER_MEMBER_BYTES)
    inner_name = f"{outer_path}:{INNER_ARCHIVE}"
    return parse_inner_archive(open_zip(inner_bytes, inner_name, INNER_MEMBERS), inner_name)
