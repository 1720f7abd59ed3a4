"""Archive members are read within caps: a zip bomb or an archive of countless members ends in one
sentence before anything is unpacked."""

import zipfile

import pytest

from micronas.data.archive import open_zip, read_member
from micronas.data.skodar import MAT_FILE
from micronas.errors import DataError

ARCHIVE = "skodaminicp_2015_08.zip"


def bomb(path, member: str, megabytes: int):
    """A zip whose `member` unpacks to `megabytes` MB of zeros (about 1000:1), written without holding it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(member, "w") as stream:
        for _ in range(megabytes):
            stream.write(bytes(1 << 20))
    return path


def test_a_zip_bomb_in_place_of_the_skoda_archive_is_refused_unread(compose, tmp_path):
    from micronas.data import make_datamodule

    folder = tmp_path / "data" / "skodar"
    folder.mkdir(parents=True)
    path = bomb(folder / ARCHIVE, f"SkodaMiniCP_2015_08/{MAT_FILE}", 64)
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match=rf"unpacks to 67108864 bytes from \d+; the official member is under "
                                        rf"1073741824 bytes and packed under 100:1, so replace the archive"):
        make_datamodule(compose("dataset=skodar", "dataset.sha256=null")).setup()


def test_members_over_the_cap_and_archives_of_too_many_members_are_refused(tmp_path):
    archive = open_zip(bomb(tmp_path / "a.zip", "x", 2), "a.zip", 10)
    with pytest.raises(DataError, match="'x' unpacks to 2097152 bytes .* under 1048576 bytes"):
        read_member(archive, "x", "a.zip", 1 << 20)
    assert read_member(archive, "x", "a.zip", 4 << 20) == bytes(2 << 20)
    with pytest.raises(DataError, match="a.zip has no member 'y'"):
        read_member(archive, "y", "a.zip", 1 << 20)
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as many:
        for index in range(11):
            many.writestr(f"m{index}", b"")
    with pytest.raises(DataError, match="many.zip lists 11 members; the official archive has fewer than 10"):
        open_zip(tmp_path / "many.zip", "many.zip", 10)
