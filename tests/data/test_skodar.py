"""SkodaR: the real `.mat` column layout in the real archive layout, through download, parsing, protocols."""

import hashlib
import io

import numpy as np
import pytest
import scipy.io

from micronas.data import make_datamodule
from micronas.data.skodar import CLASS_NAMES, cut_windows, read_recording
from micronas.data.synthetic import skoda_archive_bytes, skoda_matrix, zip_bytes
from micronas.errors import DataError

GESTURES = list(range(48, 58))
ARCHIVE = "skodaminicp_2015_08.zip"


def interleaved(repetitions: int = 10, seed: int = 0) -> list[tuple[int, int]]:
    """Gestures in rotation, each after a null segment, as in a recording session."""
    rng = np.random.default_rng(seed)
    return [(label, int(rng.integers(lo, hi))) for _ in range(repetitions) for g in GESTURES
            for label, lo, hi in ((32, 50, 150), (g, 150, 250))]  # fmt: skip


def grouped(repetitions: int = 10) -> list[tuple[int, int]]:
    """All instances of one gesture, then the next: contiguous blocks then lack classes."""
    return [(label, n) for g in GESTURES for _ in range(repetitions) for label, n in ((32, 100), (g, 200))]


def place(tmp_path, archive: bytes) -> None:
    folder = tmp_path / "data" / "skodar"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ARCHIVE).write_bytes(archive)


def positions(windows) -> np.ndarray:
    """First sample index of each window (sensor 0 calibrated x holds the sample index)."""
    return windows.x[:, 0, 0].astype(np.int64)


def test_download_and_calibrated_channels_in_file_order(http_dir, compose, tmp_path):
    served, _ = http_dir
    (served / ARCHIVE).write_bytes(skoda_archive_bytes(skoda_matrix(interleaved())))
    dm = make_datamodule(compose("dataset=skodar", f"dataset.url={(served / ARCHIVE).as_uri()}"))
    dm.setup()
    record = tmp_path / "data" / "skodar" / f"{ARCHIVE}.sha256"
    assert record.read_text().strip() == hashlib.sha256((served / ARCHIVE).read_bytes()).hexdigest()
    assert dm.input_shape == (64, 30) and dm.num_classes == 10 and dm.class_names == CLASS_NAMES
    x = dm.windows("train").x
    expected = 1000 * np.arange(10)[:, None] + 100 * np.arange(3)  # calibrated, never the negative raw ADC
    np.testing.assert_allclose(x[:, :, 1:].mean(axis=(0, 1)), expected.ravel()[1:], atol=1.0)
    assert np.all(np.diff(x[:, :, 0], axis=1) == 1)  # windows are contiguous runs of the stream


def test_majority_label_drops_null_windows_and_maps_labels():
    labels = np.array([32] * 40 + [48] * 24 + [32] * 20 + [57] * 44 + [49] * 32 + [50] * 32)
    signals = np.arange(len(labels), dtype=np.float32)[:, None]
    windows = cut_windows(signals, labels, np.array([0, 64, 128]), 64)
    # window 0: 40 null -> dropped; window 1: 44 x 57 -> 9; window 2: 32 x 49 vs 32 x 50 -> tie to 49 -> 1
    np.testing.assert_array_equal(windows.y, [9, 1])
    np.testing.assert_array_equal(windows.x[:, 0, 0], [64, 128])


def test_temporal_protocol_uses_contiguous_blocks_with_gaps(compose, tmp_path):
    matrix = skoda_matrix(interleaved(repetitions=20))
    place(tmp_path, skoda_archive_bytes(matrix))
    dm = make_datamodule(compose("dataset=skodar"))
    dm.setup()
    assert dm.protocol == "temporal (contiguous blocks)"
    n = len(matrix)
    first, second = round(0.7 * n), round(0.8 * n)
    train, val, test = (
        positions(w) for w in (dm.windows("train"), dm.windows("arch-val"), dm.windows("test"))
    )
    assert train.max() + 64 <= first and first + 64 <= val.min()
    assert val.max() + 64 <= second and second + 64 <= test.min() and test.max() + 64 <= n
    for split in (dm.windows("train"), dm.windows("arch-val"), dm.windows("test")):
        assert set(split.y) == set(range(10))


def test_temporal_protocol_falls_back_to_per_class_instances(compose, tmp_path):
    place(tmp_path, skoda_archive_bytes(skoda_matrix(grouped())))
    dm = make_datamodule(compose("dataset=skodar"))
    dm.setup()
    assert dm.protocol == "temporal (per-class instance fallback)"
    splits = (dm.windows("train"), dm.windows("arch-val"), dm.windows("test"))
    samples = [set((positions(w)[:, None] + np.arange(64)).ravel()) for w in splits]
    assert not (samples[0] & samples[1] or samples[0] & samples[2] or samples[1] & samples[2])
    for label in range(10):  # per class: 7 train, 1 arch-val, 2 test instances, in time order
        where = [positions(w)[w.y == label] for w in splits]
        assert all(len(p) for p in where)
        assert where[0].max() < where[1].min() and where[1].max() < where[2].min()


def test_random_folds_partition_the_windows_and_draw_a_stratified_arch_val(compose, tmp_path):
    place(tmp_path, skoda_archive_bytes(skoda_matrix(interleaved())))
    tests = []
    for fold in range(5):
        dm = make_datamodule(
            compose("dataset=skodar", "dataset.protocol=random-folds", f"dataset.fold={fold}")
        )
        dm.setup()
        assert dm.protocol == f"random-folds (fold {fold})"
        train, val, test = (
            set(positions(w)) for w in (dm.windows("train"), dm.windows("arch-val"), dm.windows("test"))
        )
        assert not (train & val or train & test or val & test)
        assert abs(len(val) - 0.05 * (len(train) + len(val))) <= 10 and set(dm.windows("arch-val").y) == set(
            range(10)
        )
        tests.append(test)
    everything = set().union(*tests)
    assert sum(len(t) for t in tests) == len(everything) == len(train | val | tests[fold])
    again = make_datamodule(compose("dataset=skodar", "dataset.protocol=random-folds", "dataset.fold=4"))
    assert set(positions(again.windows("test"))) == tests[4]
    other_seed = make_datamodule(
        compose("dataset=skodar", "dataset.protocol=random-folds", "dataset.fold=4", "seed=1")
    )
    assert set(positions(other_seed.windows("test"))) != tests[4]


def mat_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays)
    return buffer.getvalue()


def with_nan(matrix):
    matrix[5:8, 9] = np.nan
    return matrix


def with_label(matrix):
    matrix[3, 0] = 47
    return matrix


@pytest.mark.parametrize(
    "content, message",
    [
        (
            mat_bytes(right_classall_clean=skoda_matrix(grouped(1))[:, :64]),
            r"shape \(3000, 64\); expected \[samples, 71\]",
        ),
        (
            mat_bytes(left_classall_clean=skoda_matrix(grouped(1))),
            r"has no matrix 'right_classall_clean' \(found: left_classall_clean\)",
        ),
        (mat_bytes(right_classall_clean=with_nan(skoda_matrix(grouped(1)))), "contains 3 NaN values"),
        (
            mat_bytes(right_classall_clean=with_label(skoda_matrix(grouped(1)))),
            "has label 47; valid labels are 32",
        ),
        (b"MATLAB 5.0 MAT-file, truncated", "is not a readable MATLAB file"),
    ],
)
def test_malformed_mat_files_give_one_sentence(content, message):
    with pytest.raises(DataError, match=message):
        read_recording(content, "right_classall_clean.mat")


def test_archive_without_the_mat_file_or_truncated_is_named(compose, tmp_path):
    place(tmp_path, zip_bytes({"SkodaMiniCP_2015_08/left_classall_clean.mat": b"x"}))
    with pytest.raises(
        DataError, match="has no right_classall_clean.mat; it is not the Skoda mini checkpoint"
    ):
        make_datamodule(compose("dataset=skodar")).setup()
    (tmp_path / "data" / "skodar" / f"{ARCHIVE}.sha256").unlink()
    good = skoda_archive_bytes(skoda_matrix(grouped(2)))
    place(tmp_path, good[: len(good) // 2])
    with pytest.raises(DataError, match=f"{ARCHIVE} is not a valid zip archive"):
        make_datamodule(compose("dataset=skodar")).setup()


def test_unknown_protocol_and_fold_are_refused(compose):
    with pytest.raises(
        DataError, match="dataset.protocol=blocked is not valid for skodar; valid: temporal, random-folds"
    ):
        make_datamodule(compose("dataset=skodar", "dataset.protocol=blocked")).setup()
