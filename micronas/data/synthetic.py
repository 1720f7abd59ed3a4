"""Synthetic archives in the exact layouts of the real releases, for tests and benchmarks.

The contents are random, the layout is the real one: the UCI-HAR zip-in-zip with `Inertial Signals`
text files, and the Skoda `.mat` matrix (label + 10 x (sensor id, calibrated xyz, raw xyz)) in its zip.
"""

import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

from micronas.data import skodar, ucihar

UCIHAR_ACTIVITIES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
SKODA_SENSOR_IDS = [1, 2, 14, 16, 18, 21, 22, 24, 27, 29]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive holding `members` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _text_matrix(values: np.ndarray) -> bytes:
    """Rows formatted like the release: two spaces before each value, exponent notation."""
    buffer = io.BytesIO()
    np.savetxt(buffer, values, fmt="%.7e", delimiter="  ")
    return b"\n".join(b"  " + line for line in buffer.getvalue().splitlines()) + b"\n"


def ucihar_members(
    train_subjects: list[int], test_subjects: list[int], train_windows: int, test_windows: int, seed: int = 0
) -> dict[str, bytes]:
    """Members of the inner `UCI HAR Dataset.zip`; windows are shared evenly by the subjects of a split,
    and window i has activity `i % 6 + 1`.

    Signal values encode their window: channel c of window i in a split is `i + c / 10 + noise / 1000`.
    """
    rng = np.random.default_rng(seed)
    root = ucihar.ROOT
    labels_text = "".join(f"{i} {name}\n" for i, name in enumerate(UCIHAR_ACTIVITIES, start=1)).encode()
    members = {f"{root}/activity_labels.txt": labels_text}
    for split, subjects, count in (
        ("train", train_subjects, train_windows),
        ("test", test_subjects, test_windows),
    ):
        shares = [len(part) for part in np.array_split(np.arange(count), len(subjects))]
        subject_ids, labels = np.repeat(subjects, shares), np.arange(count) % 6 + 1
        for c, channel in enumerate(ucihar.CHANNELS):
            noise = rng.standard_normal((count, ucihar.WINDOW_SAMPLES)) / 1000
            values = np.arange(count)[:, None] + c / 10 + noise
            members[f"{root}/{split}/Inertial Signals/{channel}_{split}.txt"] = _text_matrix(values)
        members[f"{root}/{split}/y_{split}.txt"] = "".join(f"{v}\n" for v in labels).encode()
        members[f"{root}/{split}/subject_{split}.txt"] = "".join(f"{v}\n" for v in subject_ids).encode()
    return members


def write_ucihar_archive(path: Path, inner_members: dict[str, bytes]) -> Path:
    """Write the outer archive: `UCI HAR Dataset.names` and the inner `UCI HAR Dataset.zip`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = b"Human Activity Recognition Using Smartphones Dataset (synthetic layout copy)\n"
    path.write_bytes(
        zip_bytes({"UCI HAR Dataset.names": names, ucihar.INNER_ARCHIVE: zip_bytes(inner_members)})
    )
    return path


def skoda_matrix(segments: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """The 71-column `right_classall_clean` matrix for consecutive (raw label, samples) segments.

    Calibrated x of sensor 0 holds the sample index, so windows carry their position in the stream; other
    calibrated values are `1000 * sensor + 100 * axis + noise`; raw ADC values are negative, so picking a
    wrong column shows.
    """
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, label) for label, n in segments]).astype(np.float64)
    n = len(labels)
    matrix = np.zeros((n, skodar.COLUMNS))
    matrix[:, 0] = labels
    for s, sensor_id in enumerate(SKODA_SENSOR_IDS):
        base = 1 + 7 * s
        matrix[:, base] = sensor_id
        for axis in range(3):
            matrix[:, base + 1 + axis] = 1000 * s + 100 * axis + rng.standard_normal(n)
            matrix[:, base + 4 + axis] = -(500 + rng.integers(0, 100, n))
    matrix[:, 2] = np.arange(n)
    return matrix


def skoda_archive_bytes(matrix: np.ndarray) -> bytes:
    """The Skoda archive: `SkodaMiniCP_2015_08/right_classall_clean.mat` holding `matrix`."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"right_classall_clean": matrix})
    return zip_bytes({f"SkodaMiniCP_2015_08/{skodar.MAT_FILE}": buffer.getvalue()})
