"""Reading dataset zip archives within caps, so that a damaged or hostile archive (a zip bomb) cannot fill
the memory: at most `max_members` entries, members of at most `max_bytes`, and no large member packed
more than `MAX_RATIO` to 1. The real archives lie far inside the caps each loader sets."""

import io
import zipfile
import zlib
from pathlib import Path

from micronas.errors import DataError

MAX_RATIO = 100                 # the datasets' text and .mat members pack at most ~10:1; zip bombs ~1000:1
RATIO_FLOOR_BYTES = 16 << 20    # below this a member is small enough whatever its ratio


def open_zip(source: bytes | Path, name: str, max_members: int) -> zipfile.ZipFile:
    """The zip archive `source` (its bytes or path), refused if it is not one or lists over `max_members`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise DataError(
            f"{name} is not a valid zip archive (truncated or corrupt); delete it and run again, or place "
            f"the official file there."
        ) from None
    if len(archive.infolist()) > max_members:
        archive.close()
        raise DataError(
            f"{name} lists {len(archive.infolist())} members; the official archive has fewer than "
            f"{max_members}, so this is not it: replace it with the official file."
        )
    return archive


def read_member(archive: zipfile.ZipFile, member: str, name: str, max_bytes: int) -> bytes:
    """The bytes of `member` of `archive` (`name` in errors), at most `max_bytes` of them."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise DataError(f"{name} has no member '{member}'; it is not the official archive.") from None
    packed_too_far = info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * info.compress_size
    if info.file_size > max_bytes or packed_too_far:
        raise DataError(
            f"{name}: '{member}' unpacks to {info.file_size} bytes from {info.compress_size}; the official "
            f"member is under {max_bytes} bytes and packed under {MAX_RATIO}:1, so replace the archive."
        )
    try:
        with archive.open(info) as stream:
            data = stream.read(max_bytes + 1)   # a header that lies about the size cannot make this read more
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
        raise DataError(f"{name} is corrupt: reading '{member}' failed ({error}); replace it.") from None
    if len(data) > max_bytes:
        raise DataError(f"{name}: '{member}' unpacks to more than {max_bytes} bytes; replace the archive.")
    return data
