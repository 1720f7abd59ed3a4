"""Data-layer figures: load time (median of 5) and in-memory size of each bundled dataset, and the time of
`make_datamodule(...).setup()` on a synthetic UCI-HAR-sized archive in the release's exact layout."""

import functools
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.data.bundled import BUNDLED, load_bundled
from micronas.data.synthetic import ucihar_members, write_ucihar_archive

REPEATS = 5
UCIHAR_TRAIN_SUBJECTS = [1, 3, 5, 6, 7, 8, 11, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27, 28, 29, 30]
UCIHAR_TEST_SUBJECTS = [2, 4, 9, 10, 12, 13, 18, 20, 24]


def median_s(run, repeats: int = REPEATS) -> float:
    """Median wall time of `run()` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bundled_figures() -> None:
    for name in BUNDLED:
        cfg = load_config("search", [f"dataset={name}"])
        load_s = median_s(functools.partial(load_bundled, cfg.dataset))
        loaded = load_bundled(cfg.dataset)
        arrays = [loaded.train.x, loaded.train.y, loaded.test.x, loaded.test.y]
        size_kib = sum(a.nbytes for a in arrays) / 1024
        setup_s = median_s(lambda cfg=cfg: make_datamodule(cfg).setup())
        print(
            f"{name:15s} windows {len(loaded.train)}+{len(loaded.test)}  "
            f"load {1000 * load_s:7.1f} ms (median of {REPEATS})  "
            f"in memory {size_kib:8.1f} KiB (float32 windows + int64 labels)  "
            f"DataModule setup {1000 * setup_s:7.1f} ms"
        )


def ucihar_figures() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        members = ucihar_members(UCIHAR_TRAIN_SUBJECTS, UCIHAR_TEST_SUBJECTS, 7352, 2947)
        archive = write_ucihar_archive(
            Path(tmp) / "ucihar" / "human+activity+recognition+using+smartphones.zip", members
        )
        build_s = time.perf_counter() - start
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        cfg = load_config("search", ["dataset=ucihar", f"data_dir={tmp}", f"dataset.sha256={sha}"])
        setup_s = median_s(lambda: make_datamodule(cfg).setup())
        dm = make_datamodule(cfg)
        dm.setup()
        sizes = [len(dm.windows(s)) for s in ("train", "arch-val", "test")]
        tensors_mib = sum(dm.windows(s).x.nbytes for s in ("train", "arch-val", "test")) / 2**20
        print(
            f"ucihar (synthetic, release layout, {archive.stat().st_size / 2**20:.1f} MiB archive, built in "
            f"{build_s:.1f} s): windows train/arch-val/test {sizes[0]}/{sizes[1]}/{sizes[2]}, "
            f"{tensors_mib:.1f} MiB of float32 windows; make_datamodule(cfg).setup() {setup_s:.2f} s "
            f"(median of {REPEATS}; SHA-256 check + unzip + text parse + split + z-score)"
        )


if __name__ == "__main__":
    bundled_figures()
    ucihar_figures()
