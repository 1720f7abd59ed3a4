"""User `.npz` datasets: keys, optional subjects and split, and one sentence per mistake."""

import numpy as np
import pytest

from micronas.data import make_datamodule
from micronas.errors import DataError


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def windows(n=120, channels=3, steps=20, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.standard_normal((n, channels, steps)) + y[:, None, None]
    return x, y


def test_file_split_and_arch_val_by_subject(compose, tmp_path):
    x, y = windows()
    subjects = np.arange(len(y)) % 8
    split = np.where(subjects >= 6, "test", "train")
    path = write_npz(
        tmp_path / "mine.npz", X=x, y=y, subjects=subjects, split=split, class_names=["a", "b", "c"]
    )
    dm = make_datamodule(compose("dataset=npz", f"dataset.path={path}", "dataset.val_subjects=2"))
    assert dm.input_shape == (20, 3) and dm.class_names == ["a", "b", "c"]
    assert dm.channel_names == ["channel_0", "channel_1", "channel_2"]
    assert len(dm.val_subjects) == 2 and set(dm.val_subjects) <= set(range(6))
    assert set(np.unique(dm.windows("arch-val").subjects)) == set(dm.val_subjects)
    assert set(np.unique(dm.windows("test").subjects)) == {6, 7}
    # X is [N, C, T]: window i, channel c, step t lands at [t, c] of the [T, S] window
    first = dm.windows("test")
    i = np.flatnonzero(subjects >= 6)[0]
    np.testing.assert_allclose(first.x[0], x[i].T.astype(np.float32))


def test_without_split_test_is_drawn_by_subject_else_stratified(compose, tmp_path):
    x, y = windows()
    with_subjects = write_npz(tmp_path / "s.npz", X=x, y=y, subjects=np.arange(len(y)) % 10)
    dm = make_datamodule(compose("dataset=npz", f"dataset.path={with_subjects}"))
    test_subjects = set(np.unique(dm.windows("test").subjects))
    assert len(test_subjects) == 2 and not test_subjects & set(np.unique(dm.windows("train").subjects))
    plain = write_npz(tmp_path / "p.npz", X=x, y=y)
    dm = make_datamodule(compose("dataset=npz", f"dataset.path={plain}"))
    assert np.bincount(dm.windows("test").y).tolist() == [8, 8, 8]
    assert np.bincount(dm.windows("arch-val").y).tolist() == [6, 6, 6] and dm.val_subjects is None
    assert dm.class_names == ["0", "1", "2"]


def nan_x():
    x, y = windows()
    x[3, 1, 4:9] = np.nan
    return {"X": x, "y": y}


@pytest.mark.parametrize(
    "arrays, message",
    [
        (
            {"X": windows()[0]},
            r"has no 'y' array \(it has: X\); an npz dataset needs X \[N, C, T\] and y \[N\]",
        ),
        (nan_x(), r"X in .*bad.npz contains 5 NaN values"),
        (
            {"X": windows()[0][:, 0], "y": windows()[1]},
            r"X in .*bad.npz has shape \(120, 20\); expected \[N, C, T\]",
        ),
        (
            {"X": windows()[0], "y": windows()[1][:-1]},
            r"y in .*bad.npz has shape \(119,\); expected \(120,\)",
        ),
        (
            {"X": windows()[0], "y": windows()[1], "class_names": ["a", "b", "c", "d"]},
            "class 'd' has no windows in the weight-training split of npz",
        ),
        (
            {"X": windows()[0], "y": windows()[1], "split": np.where(windows()[1] == 2, "test", "train")},
            "class '2' has no windows in the weight-training split of npz",
        ),
        (
            {"X": windows()[0], "y": windows()[1], "split": np.full(120, "holdout")},
            "split in .*bad.npz has the value 'holdout'; valid values are train, val and test",
        ),
    ],
)
def test_malformed_files_give_one_sentence(compose, tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        make_datamodule(compose("dataset=npz", f"dataset.path={path}")).setup()


def test_missing_or_unreadable_file(compose, tmp_path):
    with pytest.raises(DataError, match="dataset.path=.*nothing.npz does not exist"):
        make_datamodule(compose("dataset=npz", f"dataset.path={tmp_path / 'nothing.npz'}")).setup()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="broken.npz is not a readable .npz file"):
        make_datamodule(compose("dataset=npz", f"dataset.path={broken}")).setup()


def test_a_file_of_one_class_or_text_subject_ids_ends_in_one_sentence(compose, tmp_path):
    x, _ = windows()
    path = write_npz(tmp_path / "one.npz", X=x, y=np.zeros(len(x), dtype=np.int64))
    with pytest.raises(DataError, match=r"y in .*one.npz holds the one class '0'; a classifier needs two"):
        make_datamodule(compose("dataset=npz", f"dataset.path={path}")).setup()
    x, y = windows()
    path = write_npz(tmp_path / "text.npz", X=x, y=y, subjects=np.array(["s1"] * len(y)))
    with pytest.raises(DataError, match=r"subjects in .*text.npz has dtype <U2; expected integer subject"):
        make_datamodule(compose("dataset=npz", f"dataset.path={path}")).setup()


def test_a_npy_file_ends_in_one_sentence_that_says_how_to_save_a_npz(compose, tmp_path):
    path = tmp_path / "windows.npy"
    np.save(path, windows()[0])
    with pytest.raises(DataError, match=r"^dataset.path=.*windows.npy holds one array \(a .npy file\); "
                                        r"an npz dataset is one .npz file with X and y, saved with np.savez"):
        make_datamodule(compose("dataset=npz", f"dataset.path={path}")).setup()


def test_x_saved_as_n_t_c_is_refused_unless_channel_names_confirm_the_channels(compose, tmp_path):
    """A window has far more time steps than sensor channels: X [120, 20, 3] read as [N, C, T] would be 20
    channels of 3 steps, so the file is refused with the transpose that fixes it."""
    x, y = windows(channels=3, steps=20)
    transposed = write_npz(tmp_path / "ntc.npz", X=np.transpose(x, (0, 2, 1)), y=y)
    with pytest.raises(DataError, match=r"has shape \(120, 20, 3\), read as 20 channels of 3 time steps, "
                                        r"which looks like \[N, T, C\] .*np.transpose\(X, \(0, 2, 1\)\)"):
        make_datamodule(compose("dataset=npz", f"dataset.path={transposed}")).setup()
    named = write_npz(tmp_path / "named.npz", X=np.transpose(x, (0, 2, 1)), y=y,
                      channel_names=[f"electrode{i}" for i in range(20)])
    dm = make_datamodule(compose("dataset=npz", f"dataset.path={named}"))
    assert dm.input_shape == (3, 20)   # 20 channels really meant: kept as the file says
    right = write_npz(tmp_path / "nct.npz", X=x, y=y)
    assert make_datamodule(compose("dataset=npz", f"dataset.path={right}")).input_shape == (20, 3)


def test_splits_too_small_to_decide_are_warned_about_with_their_resolution(compose, tmp_path, caplog):
    x, y = windows(n=6, classes=2)
    path = write_npz(tmp_path / "six.npz", X=x, y=y)
    dm = make_datamodule(compose("dataset=npz", f"dataset.path={path}"))
    with caplog.at_level("WARNING"):
        dm.setup()
    sizes = {"arch-val": len(dm.windows("arch-val")), "test": len(dm.windows("test"))}
    assert sum(sizes.values()) + len(dm.windows("train")) == 6
    expected = "; ".join(f"{split} has {n} windows (accuracy moves in {100 / n:.3g}-point steps)"
                         for split, n in sizes.items())
    assert f"the splits of npz are too small to decide much: {expected}; differences" in caplog.text
    caplog.clear()
    x, y = windows(n=200)
    big = write_npz(tmp_path / "big.npz", X=x, y=y)
    with caplog.at_level("WARNING"):
        make_datamodule(compose("dataset=npz", f"dataset.path={big}")).setup()
    assert "too small" not in caplog.text   # 40 test and 32 arch-val windows


def test_basicmotions_arch_val_of_8_windows_is_warned_about(compose, caplog):
    with caplog.at_level("WARNING"):
        dm = make_datamodule(compose("dataset=basicmotions"))
        dm.setup()
    assert len(dm.windows("arch-val")) == 8
    assert "arch-val has 8 windows (accuracy moves in 12.5-point steps)" in caplog.text
