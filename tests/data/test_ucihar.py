"""UCI-HAR: a fixture in the exact release layout (zip in zip, `Inertial Signals`) through the real code."""

import hashlib
import re

import numpy as np
import pytest

from micronas.data import make_datamodule
from micronas.data.synthetic import ucihar_members, write_ucihar_archive, zip_bytes
from micronas.data.ucihar import CHANNELS, INNER_ARCHIVE, load_ucihar
from micronas.errors import DataError

TRAIN_SUBJECTS, TEST_SUBJECTS = [1, 3, 5, 6, 7], [2, 4]
ARCHIVE = "human+activity+recognition+using+smartphones.zip"


def serve(http_dir, members) -> list[str]:
    """Serve an outer archive holding `members`; return the overrides that point ucihar at it."""
    served, base = http_dir
    path = write_ucihar_archive(served / ARCHIVE, members)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return ["dataset=ucihar", f"dataset.url={base}/{ARCHIVE}", f"dataset.sha256={sha}"]


def test_download_parse_and_official_split(http_dir, compose):
    cfg = compose(*serve(http_dir, ucihar_members(TRAIN_SUBJECTS, TEST_SUBJECTS, 60, 24)))
    dm = make_datamodule(cfg)
    dm.setup()
    assert dm.input_shape == (128, 9) and dm.num_classes == 6
    assert dm.channel_names == CHANNELS
    assert dm.class_names[0] == "walking" and dm.class_names[5] == "laying"
    assert dm.protocol == "official-subject"
    train, val, test = dm.windows("train"), dm.windows("arch-val"), dm.windows("test")
    assert (len(train) + len(val), len(test)) == (5 * 6 * 2, 2 * 6 * 2)
    # channel c of window i holds i + c/10 (synthetic.ucihar_members), so this checks METHOD's channel order
    raw = load_ucihar(cfg.dataset, cfg.data_dir).train
    np.testing.assert_allclose(raw.x.mean(axis=1), np.arange(60)[:, None] + np.arange(9) / 10, atol=1e-3)
    np.testing.assert_array_equal(raw.subjects, np.repeat(TRAIN_SUBJECTS, 12))
    np.testing.assert_array_equal(raw.y, np.arange(60) % 6)
    assert sorted(np.unique(test.subjects)) == TEST_SUBJECTS
    assert set(np.unique(train.y)) == set(range(6))
    # arch-val by subject: 3 of the 5 training subjects, disjoint from weight training
    assert len(dm.val_subjects) == 3 and set(dm.val_subjects) <= set(TRAIN_SUBJECTS)
    assert set(np.unique(val.subjects)) == set(dm.val_subjects)
    assert not set(np.unique(train.subjects)) & set(dm.val_subjects)


def test_hand_placed_inner_archive_is_accepted(compose, tmp_path):
    inner = zip_bytes(ucihar_members(TRAIN_SUBJECTS, TEST_SUBJECTS, 30, 12))
    folder = tmp_path / "data" / "ucihar"
    folder.mkdir(parents=True)
    (folder / INNER_ARCHIVE).write_bytes(inner)
    inner_sha = hashlib.sha256(inner).hexdigest()
    cfg = compose(
        "dataset=ucihar", "dataset.url=http://127.0.0.1:9/offline", f"dataset.inner_sha256={inner_sha}"
    )
    dm = make_datamodule(cfg)
    assert len(dm.test_dataset) == 12


def test_truncated_archive_is_named(compose, tmp_path):
    path = write_ucihar_archive(
        tmp_path / "data" / "ucihar" / ARCHIVE, ucihar_members([1, 3, 5, 6], [2], 24, 6)
    )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    pinned = compose("dataset=ucihar", f"dataset.sha256={'a' * 64}")
    with pytest.raises(DataError, match=f"{re.escape(str(path))} has SHA-256 .* truncated, corrupt"):
        make_datamodule(pinned).setup()
    unpinned = compose("dataset=ucihar", "dataset.sha256=null")
    with pytest.raises(
        DataError, match=re.escape(f"{path} is not a valid zip archive (truncated or corrupt)")
    ):
        make_datamodule(unpinned).setup()


def tampered(member_suffix: str, edit) -> dict[str, bytes]:
    members = ucihar_members(TRAIN_SUBJECTS, TEST_SUBJECTS, 30, 12)
    name = next(m for m in members if m.endswith(member_suffix))
    members[name] = edit(members[name])
    return members


def nan_in_two_values(text: bytes) -> bytes:
    lines = text.split(b"\n")
    lines[3] = b"  NaN  nan" + lines[3][lines[3].index(b"  ", 20) :]
    return b"\n".join(lines)


@pytest.mark.parametrize(
    "suffix, edit, message",
    [
        (
            "body_gyro_y_train.txt",
            nan_in_two_values,
            "Inertial Signals/body_gyro_y_train.txt contains 2 NaN values",
        ),
        (
            "total_acc_z_test.txt",
            lambda t: t.replace(b"\n", b"  1.0e+00\n", 1),
            "total_acc_z_test.txt line 1 has 129 values; every line must have 128",
        ),
        (
            "/y_train.txt",
            lambda t: t + b"3\n",
            "the train files of UCI-HAR disagree on the number of windows",
        ),
        ("/y_test.txt", lambda t: b"7\n" + t[2:], "y_test.txt has the label 7; valid labels are 1..6"),
    ],
)
def test_malformed_release_files_give_one_sentence(http_dir, compose, suffix, edit, message):
    cfg = compose(*serve(http_dir, tampered(suffix, edit)))
    with pytest.raises(DataError, match=message):
        make_datamodule(cfg).setup()
