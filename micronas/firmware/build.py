"""Build the micronas firmware for a QEMU board (hardware/firmware/qemu/Makefile) from the pinned sources,
cached by a hash of the sources, the firmware files, the flags and the toolchain: a second build of the
same inputs returns at once, and an edit of the firmware recompiles only what it touches.

python -m micronas.firmware.build [--core m33|m4|m7] [--sources DIR] [--jobs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from micronas.errors import exit_on_user_error
from micronas.firmware.sources import PINS, FirmwareError, sources_dir, unpack

FIRMWARE = Path(__file__).resolve().parents[2] / "hardware" / "firmware"
CORES = ("m33", "m4", "m7")
PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"
# files of the toolchain a link needs, each with the Debian package that ships it
_TOOLCHAIN_FILES = {"libc_nano.a": "libnewlib-arm-none-eabi", "libstdc++_nano.a": "libstdc++-arm-none-eabi-newlib"}


@dataclass(frozen=True)
class Firmware:
    """A built firmware image and what it costs."""

    core: str
    elf: str
    key: str
    text_bytes: int
    data_bytes: int
    bss_bytes: int
    build_s: float  # seconds the build took when it was made (0 for none: a cache hit reads it back)
    cached: bool

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes


def cache_root() -> Path:
    """`$MICRONAS_CACHE_DIR`, else `~/.cache/micronas`."""
    return Path(os.environ.get("MICRONAS_CACHE_DIR") or "~/.cache/micronas").expanduser()


def check_toolchain() -> str:
    """The compiler's version line; refused in one sentence naming the Debian package that is missing."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "make"):
        if shutil.which(tool) is None:
            package = "make" if tool == "make" else PACKAGES
            raise FirmwareError(f"{tool} is not installed; install it with: apt-get install -y {package}.")
    for name, package in _TOOLCHAIN_FILES.items():
        found = _output(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mfloat-abi=hard", f"-print-file-name={name}"])
        if not os.path.isabs(found.strip()):
            raise FirmwareError(f"{name} is missing from the arm-none-eabi toolchain; install it with: "
                                f"apt-get install -y {package}.")
    return _output(["arm-none-eabi-gcc", "--version"]).splitlines()[0]


def build(core: str = "m33", sources: str | Path | None = None, jobs: int = 2) -> Firmware:
    """The firmware for `core`, from the cache when its inputs are unchanged."""
    if core not in CORES:
        raise FirmwareError(f"core={core} is not valid; valid cores are: {', '.join(CORES)}.")
    compiler = check_toolchain()
    folder = sources_dir(sources)
    base = _sources_key(compiler)
    key = _firmware_hash(core, base)
    out = cache_root() / "firmware" / f"{core}-{key}"
    record = out / "firmware.json"
    if record.is_file():
        return Firmware(**{**json.loads(record.read_text()), "cached": True})
    tree = unpack(folder, cache_root() / "tflm-sources" / base)
    objects = cache_root() / "firmware" / f"obj-{core}-{base}"
    start = time.monotonic()
    argv = ["make", "-C", str(FIRMWARE / "qemu"), f"-j{jobs}", f"CORE={core}", f"SOURCES={tree}",
            f"BUILD={objects}", f"TFLM_VERSION={PINS['tflite-micro'].commit[:7]}",
            f"CMSIS_NN_VERSION={PINS['CMSIS-NN'].commit[:7]}"]
    result = subprocess.run(argv, capture_output=True, text=True)
    objects.mkdir(parents=True, exist_ok=True)
    log = objects / "build.log"
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()
        raise FirmwareError(f"the {core} firmware build failed ({errors[-1].strip() if errors else 'make failed'}); "
                            f"the full log is {log}.")
    text, data, bss = (int(v) for v in _output(["arm-none-eabi-size", str(objects / "fw.elf")]).split()[6:9])
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(objects / "fw.elf", out / "fw.elf")
    firmware = Firmware(core, str(out / "fw.elf"), key, text, data, bss, round(time.monotonic() - start, 1), False)
    partial = record.with_suffix(".part")
    partial.write_text(json.dumps(asdict(firmware), indent=2) + "\n")
    partial.replace(record)
    return firmware


def _sources_key(compiler: str) -> str:
    pins = json.dumps({name: pin.commit for name, pin in sorted(PINS.items())})
    return hashlib.sha256(f"{compiler}\n{pins}".encode()).hexdigest()[:16]


def unpacked_sources(sources: str | Path | None = None) -> Path:
    """The pinned sources unpacked (once, into the cache) as the firmware build compiles them."""
    return unpack(sources_dir(sources), cache_root() / "tflm-sources" / _sources_key(check_toolchain()))


def _firmware_hash(core: str, base: str) -> str:
    digest = hashlib.sha256(f"{core}\n{base}\n".encode())
    for folder in ("src", "qemu"):
        for path in sorted((FIRMWARE / folder).iterdir()):
            if path.is_file():
                digest.update(f"{folder}/{path.name}\n".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--core", choices=CORES, default="m33")
    parser.add_argument("--sources", help="the folder of pinned tarballs (default: $MICRONAS_TFLM_SOURCES)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    firmware = build(args.core, args.sources, args.jobs)
    how = "cached" if firmware.cached else f"built in {firmware.build_s:.0f} s"
    print(f"{firmware.elf} ({args.core}, {how}): flash {firmware.flash_bytes} bytes, RAM {firmware.ram_bytes} bytes")


if __name__ == "__main__":
    main()
