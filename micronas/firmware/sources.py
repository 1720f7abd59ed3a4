"""The pinned TFLM, CMSIS-NN and CMSIS sources: where they are (`MICRONAS_TFLM_SOURCES` or `--sources`),
checked against the pinned commits, unpacked once into the cache, and fetched with git by a user with
internet (`python -m micronas.firmware.sources fetch DIR`).

A sources folder holds one `git archive` tarball per repository, `<name>-<commit>.tar.gz`, unpacking into
`<name>/`; git writes the commit into the tarball's pax header, which is what is checked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from micronas.errors import MicronasError, exit_on_user_error

ENV = "MICRONAS_TFLM_SOURCES"


class FirmwareError(MicronasError):
    """Firmware sources, toolchain or build that cannot be used."""


@dataclass(frozen=True)
class Pin:
    """One repository at one commit; `patch` is a file of the tflite-micro tree applied after unpacking."""

    url: str
    commit: str
    patch: str | None = None


# The commits tflite-micro's own download scripts pin (ext_libs/*_download.sh, flatbuffers_download.sh,
# third_party_downloads.inc); tflite-micro itself pins nothing, so this is the newest commit tried.
PINS = {
    "tflite-micro": Pin("https://github.com/tensorflow/tflite-micro", "90b983c2b3f1480642e040bbd2ddb37b998f3424"),
    "CMSIS-NN": Pin("https://github.com/ARM-software/CMSIS-NN", "4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae"),
    "CMSIS_6": Pin("https://github.com/ARM-software/CMSIS_6", "5782d6f8057906d360f4b95ec08a2354afe5c9b9"),
    "Cortex_DFP": Pin("https://github.com/ARM-software/Cortex_DFP", "c2c70a97a20fb355815e2ead3d4a40e35a4a3cdf"),
    "flatbuffers": Pin(
        "https://github.com/google/flatbuffers",
        "187240970746d00bbd26b0f5873ed54d2477f9f3",  # v25.9.23
        patch="tensorflow/lite/micro/tools/make/flatbuffers.patch",
    ),
    "gemmlowp": Pin("https://github.com/google/gemmlowp", "719139ce755a0f31cbf1c37f7f98adcc7fc9f425"),
    "ruy": Pin("https://github.com/google/ruy", "d37128311b445e758136b8602d1bbd2a755e115d"),
}


def sources_dir(explicit: str | Path | None = None) -> Path:
    """The sources folder: `explicit`, else `$MICRONAS_TFLM_SOURCES`; refused when unset or missing."""
    value = explicit or os.environ.get(ENV)
    if not value:
        raise FirmwareError(
            f"no TFLM sources folder is set: pass --sources DIR or set {ENV}=DIR to a folder with the pinned "
            "tarballs (python -m micronas.firmware.sources fetch DIR clones and packs them)."
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FirmwareError(
            f"the TFLM sources folder {path} does not exist; give a folder with the pinned tarballs "
            "(python -m micronas.firmware.sources fetch DIR makes one)."
        )
    return path


def tarball(folder: Path, name: str, pins: dict[str, Pin] = PINS) -> Path:
    """The tarball of `name` in `folder`, checked to hold the pinned commit."""
    commit = pins[name].commit
    path = folder / f"{name}-{commit}.tar.gz"
    if not path.is_file():
        raise FirmwareError(
            f"{path.name} is missing from the TFLM sources folder {folder}; it must hold {name} at commit "
            f"{commit} (python -m micronas.firmware.sources fetch {folder} fetches it)."
        )
    try:
        with tarfile.open(path) as archive:
            found = archive.pax_headers.get("comment")
    except (tarfile.TarError, OSError) as error:
        raise FirmwareError(f"{path} is not a readable tarball ({error}); fetch it again.") from None
    if found != commit:
        raise FirmwareError(
            f"{path} holds commit {found or 'unknown (no git archive header)'}, not the pinned {commit}; "
            "fetch it again with python -m micronas.firmware.sources fetch."
        )
    return path


def unpack(folder: Path, destination: Path, pins: dict[str, Pin] = PINS) -> Path:
    """Unpack every pinned tarball of `folder` into `destination/<name>/` (once), patches applied."""
    for name, pin in pins.items():
        target = destination / name
        if target.is_dir():
            continue
        path = tarball(folder, name, pins)
        destination.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=destination) as tmp:
            with tarfile.open(path) as archive:
                archive.extractall(tmp, filter="tar")
            if pin.patch:
                patch = destination / "tflite-micro" / pin.patch
                _run(["git", "apply", "-p1", str(patch)], Path(tmp) / name, f"applying {pin.patch} to {name}")
            (Path(tmp) / name).rename(target)
    return destination


def fetch(destination: Path, pins: dict[str, Pin] = PINS) -> list[Path]:
    """Clone each pinned repository at its commit and pack it as `<name>-<commit>.tar.gz` in `destination`
    (tarballs already there and holding the right commit are kept)."""
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pin in pins.items():
        path = destination / f"{name}-{pin.commit}.tar.gz"
        if path.is_file():
            tarball(destination, name, pins)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            _run(["git", "init", "--quiet"], repo, f"creating a repository for {name}")
            _run(["git", "fetch", "--quiet", "--depth", "1", pin.url, pin.commit], repo, f"fetching {name}")
            head = _run(["git", "rev-parse", "FETCH_HEAD"], repo, f"reading the commit of {name}").strip()
            if head != pin.commit:
                raise FirmwareError(f"{pin.url} gave commit {head} for {name}, not the pinned {pin.commit}.")
            partial = path.with_name(path.name + ".part")
            _run(["git", "archive", "--format=tar.gz", f"--prefix={name}/", "-o", str(partial), pin.commit],
                 repo, f"packing {name}")
            partial.replace(path)
        written.append(path)
    return written


def _run(argv: list[str], cwd: Path, what: str) -> str:
    if shutil.which(argv[0]) is None:
        raise FirmwareError(f"{argv[0]} is not installed, which {what} needs; install it (Debian: apt-get install git).")
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise FirmwareError(f"{what} failed: {detail[-1] if detail else f'exit status {result.returncode}'}.")
    return result.stdout


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch or check the pinned TFLM, CMSIS-NN and CMSIS sources.")
    parser.add_argument("action", choices=("fetch", "check"))
    parser.add_argument("folder", nargs="?", help=f"the sources folder (default: ${ENV})")
    args = parser.parse_args(argv)
    if args.action == "fetch":
        target = args.folder or os.environ.get(ENV)
        if not target:
            raise FirmwareError(f"fetch needs a folder: give one, or set {ENV}=DIR.")
        fetch(Path(target).expanduser())
    folder = sources_dir(args.folder)
    for name, pin in PINS.items():
        print(f"{name:14s} {pin.commit}  {tarball(folder, name).name}")


if __name__ == "__main__":
    main()
