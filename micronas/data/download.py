"""Fetching dataset archives into the cache, with SHA-256 verification."""

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from micronas.errors import DataError

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise `DataError` unless the file's SHA-256 is `expected`."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise DataError(
            f"{path} has SHA-256 {actual} but {expected} was expected, so it is truncated, corrupt or a "
            f"different release: delete it and run again, or place the official file there."
        )


def fetch(url: str, destination: Path, how_to_place: str) -> None:
    """Download `url` to `destination` atomically (through a `.part` file); http(s):// and file:// work.

    `how_to_place` finishes the error sentence when the download fails, e.g. "place <file> at <path>".
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DataError(f"could not download {url} ({reason}); {how_to_place}.") from None
    partial.replace(destination)


def fetch_verified(url: str, destination: Path, sha256: str | None, how_to_place: str) -> Path:
    """Return `destination`, downloading it first if it is missing, and check its SHA-256.

    With `sha256=None` (no published checksum), the digest of the first download is recorded in
    `<destination>.sha256` and every later use is checked against that record (trust on first use).
    """
    record = destination.with_name(destination.name + ".sha256")
    if not destination.exists():
        fetch(url, destination, how_to_place)
        actual = sha256_of(destination)
        if sha256 and actual != sha256.lower():
            destination.unlink()
            raise DataError(
                f"the download of {url} has SHA-256 {actual} but {sha256} was expected; it was deleted, "
                f"so run again, or {how_to_place}."
            )
        if not sha256:
            record.write_text(actual + "\n")
        return destination
    expected = sha256 or (record.read_text().strip() if record.exists() else None)
    if expected:
        verify_sha256(destination, expected)
    else:
        record.write_text(sha256_of(destination) + "\n")
    return destination
