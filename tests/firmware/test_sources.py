"""The pinned sources: commit checks of the tarballs, and the git fetch a user with internet runs,
here against a local repository made from a real tarball."""

import shutil
import subprocess
import tarfile

import pytest

from micronas.firmware.sources import PINS, FirmwareError, Pin, fetch, sources_dir, tarball


def test_every_pinned_tarball_holds_its_commit(tflm_sources):
    for name, pin in PINS.items():
        assert tarball(tflm_sources, name).name == f"{name}-{pin.commit}.tar.gz"


def test_a_tarball_of_another_commit_is_refused(tflm_sources, tmp_path):
    real = tarball(tflm_sources, "ruy")
    wrong = {"ruy": Pin(PINS["ruy"].url, "0" * 40)}
    shutil.copy(real, tmp_path / f"ruy-{'0' * 40}.tar.gz")
    with pytest.raises(FirmwareError, match=f"holds commit {PINS['ruy'].commit}, not the pinned 0000000000"):
        tarball(tmp_path, "ruy", wrong)


def test_missing_sources_are_one_sentence_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("MICRONAS_TFLM_SOURCES", raising=False)
    with pytest.raises(FirmwareError, match="no TFLM sources folder is set: pass --sources DIR or set MICRONAS_TFLM"):
        sources_dir()
    with pytest.raises(FirmwareError, match=f"the TFLM sources folder {tmp_path / 'none'} does not exist"):
        sources_dir(tmp_path / "none")
    with pytest.raises(FirmwareError, match=f"ruy-{PINS['ruy'].commit}.tar.gz is missing from the TFLM sources"):
        tarball(tmp_path, "ruy")


@pytest.fixture
def ruy_repository(tflm_sources, tmp_path):
    """A git repository holding the ruy tree of the pinned tarball, and its commit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    with tarfile.open(tarball(tflm_sources, "ruy")) as archive:
        archive.extractall(tmp_path, filter="tar")
    repo = tmp_path / "ruy"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "ruy"],
                 ["config", "uploadpack.allowAnySHA1InWant", "true"]):
        subprocess.run(git + argv, check=True)
    return repo, subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def test_fetch_clones_the_pinned_commit_and_packs_a_checked_tarball(ruy_repository, tmp_path):
    repo, commit = ruy_repository
    pins = {"ruy": Pin(f"file://{repo}", commit)}
    out = tmp_path / "sources"
    [path] = fetch(out, pins)
    assert tarball(out, "ruy", pins) == path
    with tarfile.open(path) as archive:
        assert "ruy/ruy/ruy.h" in archive.getnames()
    assert fetch(out, pins) == []  # present and checked: kept


def test_fetch_of_a_commit_the_repository_lacks_fails_in_one_sentence(ruy_repository, tmp_path):
    repo, _ = ruy_repository
    with pytest.raises(FirmwareError, match="fetching ruy failed: "):
        fetch(tmp_path / "sources", {"ruy": Pin(f"file://{repo}", "1" * 40)})
