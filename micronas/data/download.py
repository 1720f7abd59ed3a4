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


def verify_sha256(path: Path, expected: str, origin: str = "") -> None:
    """Raise `DataError` unless the file's SHA-256 is `expected`; `origin` says where it comes from."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise DataError(
            f"{path} has SHA-256 {actual} but {expected}{origin} was expected, so it is truncated, corrupt "
            f"or a different release: delete it and run again, or place the official file there."
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

    With `sha256=None` (no published checksum), the digest of the first download or hand-placed file is
    recorded in `<destination>.sha256` (trust on first use, said on the console) and every later file —
    a re-download too — must match it until the user deletes the record. Such an unpinned first download
    is refused over plain http://, where it could be altered in transit.
    """
    record = destination.with_name(destination.name + ".sha256")
    recorded = record.read_text().strip() if record.is_file() else None
    expected = sha256 or recorded
    origin = "" if sha256 else f" (recorded in {record} at first use; delete that file to trust another)"
    actual = None
    if not destination.exists():
        if expected is None and url.startswith("http://"):
            raise DataError(
                f"{url} is plain HTTP and no SHA-256 is pinned, so the download could be altered unnoticed; "
                f"set dataset.sha256=<hex> or an https:// dataset.url, or {how_to_place}."
            )
        fetch(url, destination, how_to_place)
        actual = sha256_of(destination)
        if expected and actual != expected.lower():
            destination.unlink()
            raise DataError(
                f"the download of {url} has SHA-256 {actual} but {expected}{origin} was expected; it was "
                f"deleted, so run again, or {how_to_place}."
            )
    elif expected:
        verify_sha256(destination, expected, origin)
    if expected is None:
        actual = actual or sha256_of(destination)
        record.write_text(actual + "\n")
        print(f"{destination}: no published checksum, so its SHA-256 {actual} is recorded in {record} and "
              f"checked on every later run (delete {record} to trust another file).")
    return destination
