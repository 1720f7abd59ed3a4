"""The real download + SHA-256 path, against a local HTTP server and file:// URLs."""

import hashlib

import pytest

from micronas.config import load_config
from micronas.data.download import fetch_verified, sha256_of
from micronas.errors import DataError

PAYLOAD = b"micronas archive bytes\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
HOW = "place archive.zip at the cache"


def test_download_verifies_and_then_uses_the_cache(http_dir, tmp_path):
    served, base = http_dir
    (served / "archive.zip").write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "archive.zip"
    assert fetch_verified(f"{base}/archive.zip", target, PAYLOAD_SHA, HOW) == target
    assert target.read_bytes() == PAYLOAD
    assert not target.with_name("archive.zip.part").exists()
    (served / "archive.zip").unlink()  # a second use must not need the network
    assert fetch_verified(f"{base}/archive.zip", target, PAYLOAD_SHA, HOW).read_bytes() == PAYLOAD


def test_download_with_the_wrong_checksum_is_deleted_and_named(http_dir, tmp_path):
    served, base = http_dir
    (served / "archive.zip").write_bytes(PAYLOAD)
    target = tmp_path / "archive.zip"
    with pytest.raises(
        DataError, match=f"has SHA-256 {PAYLOAD_SHA} but {'0' * 64} was expected; it was deleted"
    ):
        fetch_verified(f"{base}/archive.zip", target, "0" * 64, HOW)
    assert not target.exists()


def test_cached_file_with_the_wrong_checksum_is_refused(tmp_path):
    target = tmp_path / "archive.zip"
    target.write_bytes(PAYLOAD[:-100])  # truncated copy
    with pytest.raises(DataError, match=f"{target} has SHA-256 .* but {PAYLOAD_SHA} was expected.*truncated"):
        fetch_verified("http://127.0.0.1:9/never-used", target, PAYLOAD_SHA, HOW)


def test_failed_download_says_which_file_to_place_where(tmp_path):
    target = tmp_path / "archive.zip"
    with pytest.raises(
        DataError, match=r"could not download http://127\.0\.0\.1:9/a\.zip .*; place archive\.zip"
    ):
        fetch_verified("http://127.0.0.1:9/a.zip", target, PAYLOAD_SHA, HOW)
    assert not target.exists() and not target.with_name("archive.zip.part").exists()


def test_missing_file_url_fails_with_the_same_sentence(tmp_path):
    with pytest.raises(DataError, match="could not download file://.*; place archive.zip"):
        fetch_verified((tmp_path / "nothing.zip").as_uri(), tmp_path / "archive.zip", PAYLOAD_SHA, HOW)


def test_without_a_pinned_checksum_the_first_digest_is_recorded_and_enforced(tmp_path):
    source = tmp_path / "source.zip"
    source.write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "archive.zip"
    fetch_verified(source.as_uri(), target, None, HOW)
    record = target.with_name("archive.zip.sha256")
    assert record.read_text().strip() == PAYLOAD_SHA == sha256_of(target)
    target.write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(DataError, match=f"but {PAYLOAD_SHA} \\(recorded in .* at first use.*\\) was expect"):
        fetch_verified(source.as_uri(), target, None, HOW)


def test_a_deleted_archive_is_downloaded_again_and_checked_against_the_recorded_digest(tmp_path, capsys):
    source = tmp_path / "source.zip"
    source.write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "archive.zip"
    fetch_verified(source.as_uri(), target, None, HOW)
    record = target.with_name("archive.zip.sha256")
    assert f"its SHA-256 {PAYLOAD_SHA} is recorded in {record}" in capsys.readouterr().out
    target.unlink()                                   # as the mismatch sentence advises
    source.write_bytes(PAYLOAD + b"swapped upstream")
    recorded = f"{PAYLOAD_SHA} \\(recorded in {record} at first use; delete that file to trust another\\)"
    with pytest.raises(DataError, match=f"but {recorded} was expected; it was deleted"):
        fetch_verified(source.as_uri(), target, None, HOW)
    assert record.read_text().strip() == PAYLOAD_SHA and not target.exists()
    record.unlink()                                   # the user resets it explicitly
    fetch_verified(source.as_uri(), target, None, HOW)
    assert record.read_text().strip() == sha256_of(target) != PAYLOAD_SHA


def test_an_unpinned_download_over_plain_http_is_refused(http_dir, tmp_path):
    served, base = http_dir
    (served / "archive.zip").write_bytes(PAYLOAD)
    with pytest.raises(DataError, match=f"{base}/archive.zip is plain HTTP and no SHA-256 is pinned"):
        fetch_verified(f"{base}/archive.zip", tmp_path / "archive.zip", None, HOW)
    assert not (tmp_path / "archive.zip").exists()
    fetch_verified(f"{base}/archive.zip", tmp_path / "archive.zip", PAYLOAD_SHA, HOW)   # pinned: checked


def test_the_dataset_urls_are_https():
    for name in ("skodar", "ucihar"):
        assert load_config("search", [f"dataset={name}"]).dataset.url.startswith("https://")
