"""One LightningDataModule for every dataset: arch-val drawing, train-only z-score, loaders."""

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from micronas.data.bundled import BUNDLED, load_bundled
from micronas.data.npz import load_npz
from micronas.data.sampler import EpochShuffleSampler
from micronas.data.skodar import load_skodar
from micronas.data.splits import stratified_sample, stratified_split, subject_split
from micronas.data.ucihar import load_ucihar
from micronas.data.windows import LoadedDataset, WindowSet, check_every_class_present, check_window_set
from micronas.errors import DataError

log = logging.getLogger(__name__)

MIN_STD = 1e-8
DECISIVE_WINDOWS = 20  # a split of fewer windows moves its accuracy in steps of more than 5 points

# dataset name -> loader of the composed config
LOADERS: dict[str, Callable] = {
    "ucihar": lambda cfg: load_ucihar(cfg.dataset, Path(cfg.data_dir)),
    "skodar": lambda cfg: load_skodar(cfg.dataset, Path(cfg.data_dir), int(cfg.seed)),
    "npz": lambda cfg: load_npz(cfg.dataset, int(cfg.seed)),
    **{name: (lambda cfg: load_bundled(cfg.dataset)) for name in BUNDLED},
}


class TimeSeriesDataModule(pl.LightningDataModule):
    """Train / arch-val / test windows as `(x float32 [1, T, S], y int64)`, z-scored with train statistics.

    `load` returns the raw splits (`LoadedDataset`). If it defines no arch-val split, arch-val is drawn
    from train: `val_subjects` whole subjects where subject ids exist (and `val_subjects` > 0), else a
    stratified `val_fraction`. All draws use `seed`. `setup()` is idempotent; properties call it.
    """

    def __init__(
        self,
        load: Callable[[], LoadedDataset],
        name: str,
        batch_size: int = 64,
        seed: int = 0,
        val_fraction: float = 0.2,
        val_subjects: int = 0,
        expected_shape: tuple[int | None, int | None] = (None, None),
        expected_classes: int | None = None,
    ):
        super().__init__()
        self._load, self.name = load, name
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.val_fraction, self._val_subject_count = float(val_fraction), int(val_subjects or 0)
        self.expected_shape, self.expected_classes = expected_shape, expected_classes
        self._ready = False

    def setup(self, stage: str | None = None) -> None:
        if self._ready:
            return
        loaded = self._load()
        num_classes = len(loaded.class_names)
        for split, windows in (("train", loaded.train), ("test", loaded.test), ("arch-val", loaded.val)):
            if windows is not None:
                where = f"the {split} split of {self.name}"
                if len(windows) == 0:
                    raise DataError(f"{where} has no windows; check the dataset's split.")
                check_window_set(windows, where, num_classes)
        self._check_config(loaded)
        train, val, self._val_subjects = self._arch_val(loaded)
        if len(val) == 0:
            raise DataError(
                f"the arch-val split of {self.name} is empty: {len(loaded.train)} training windows of "
                f"{num_classes} classes leave none to hold out; give more windows or raise "
                f"dataset.val_fraction."
            )
        check_every_class_present(train.y, loaded.class_names, f"the weight-training split of {self.name}")
        mean = train.x.mean(axis=(0, 1), dtype=np.float64)
        std = train.x.std(axis=(0, 1), dtype=np.float64)
        std[std < MIN_STD] = 1.0  # a constant channel is only centred
        self._mean, self._std = mean.astype(np.float32), std.astype(np.float32)
        self._splits = {"train": train, "arch-val": val, "test": loaded.test}
        self._datasets = {split: self._tensors(windows) for split, windows in self._splits.items()}
        self._loaded = replace(loaded, train=train, val=val)  # drops the pre-draw training pool
        self._ready = True
        warning = small_splits_warning(self.name, {"arch-val": len(val), "test": len(loaded.test)})
        if warning:
            log.warning(warning)

    def __getstate__(self) -> dict:
        """Pickled (for worker processes) with its prepared splits and without the loader that made them."""
        self.setup()
        return {**self.__dict__, "_load": None}

    def _check_config(self, loaded: LoadedDataset) -> None:
        shape = loaded.train.x.shape[1:]
        for key, expected, actual in zip(("time_steps", "channels"), self.expected_shape, shape):
            if expected is not None and expected != actual:
                raise DataError(f"dataset.{key}={expected} does not match {self.name}, which has {actual}.")
        if self.expected_classes is not None and self.expected_classes != len(loaded.class_names):
            raise DataError(
                f"dataset.num_classes={self.expected_classes} does not match {self.name}, which has "
                f"{len(loaded.class_names)} classes."
            )
        if loaded.test.x.shape[1:] != shape or (loaded.val is not None and loaded.val.x.shape[1:] != shape):
            raise DataError(f"the splits of {self.name} have different window shapes; all must be {shape}.")

    def _arch_val(self, loaded: LoadedDataset) -> tuple[WindowSet, WindowSet, list[int] | None]:
        if loaded.val is not None:
            return loaded.train, loaded.val, None
        rng = np.random.default_rng(self.seed)
        subjects = loaded.train.subjects
        if subjects is not None and self._val_subject_count > 0:
            kept, held, chosen = subject_split(subjects, self._val_subject_count, rng)
        else:
            (kept, held), chosen = stratified_split(loaded.train.y, self.val_fraction, rng), None
        return loaded.train.take(kept), loaded.train.take(held), chosen

    def _normalised(self, x: np.ndarray) -> np.ndarray:
        return ((x - self._mean) / self._std)[:, None].astype(np.float32)

    def _tensors(self, windows: WindowSet) -> TensorDataset:
        return TensorDataset(torch.from_numpy(self._normalised(windows.x)), torch.from_numpy(windows.y))

    @property
    def train_dataset(self) -> TensorDataset:
        """Weight-training windows: items (x float32 [1, T, S], y int64)."""
        self.setup()
        return self._datasets["train"]

    @property
    def val_dataset(self) -> TensorDataset:
        """Arch-val windows (architecture steps, early stopping)."""
        self.setup()
        return self._datasets["arch-val"]

    @property
    def test_dataset(self) -> TensorDataset:
        """Test windows; read only in the export and measurement stages."""
        self.setup()
        return self._datasets["test"]

    @property
    def input_shape(self) -> tuple[int, int]:
        """(T, S): time steps and sensor channels of one window."""
        self.setup()
        return tuple(self._splits["train"].x.shape[1:])

    @property
    def num_classes(self) -> int:
        self.setup()
        return len(self._loaded.class_names)

    @property
    def class_names(self) -> list[str]:
        """Class names; label i is `class_names[i]`."""
        self.setup()
        return self._loaded.class_names

    @property
    def channel_names(self) -> list[str]:
        """Sensor channels in the fixed order of the window's S axis (deployment must use the same order)."""
        self.setup()
        return self._loaded.channel_names

    @property
    def protocol(self) -> str:
        """The split protocol actually used, e.g. "official-subject" or "temporal (contiguous blocks)"."""
        self.setup()
        return self._loaded.protocol

    @property
    def val_subjects(self) -> list[int] | None:
        """Subject ids held out for arch-val, or None when arch-val was not drawn by subject."""
        self.setup()
        return self._val_subjects

    @property
    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean [S], std [S]) fitted on the weight-training windows only."""
        self.setup()
        return self._mean.copy(), self._std.copy()

    def windows(self, split: str) -> WindowSet:
        """The un-normalised windows of "train" (weight training), "arch-val" or "test", with subject ids."""
        self.setup()
        return self._splits[split]

    def representative_windows(self, n: int = 500) -> np.ndarray:
        """At most `n` normalised weight-training windows, stratified and seeded: float32 [n, 1, T, S]."""
        self.setup()
        train = self._splits["train"]
        return self._normalised(train.x[stratified_sample(train.y, n, np.random.default_rng(self.seed))])

    def train_dataloader(self) -> DataLoader:
        """Shuffled per epoch, in an order that depends only on (seed, epoch): resumable runs replay it."""
        self.setup()
        sampler = EpochShuffleSampler(len(self.train_dataset), self.seed)
        return DataLoader(self.train_dataset, batch_size=self.batch_size, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.val_dataset, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.test_dataset, batch_size=self.batch_size)


def small_splits_warning(name: str, sizes: dict[str, int]) -> str | None:
    """One sentence on the splits of `sizes` (split -> windows) too small to tell models apart, or None."""
    small = {split: n for split, n in sizes.items() if n < DECISIVE_WINDOWS}
    if not small:
        return None
    parts = [f"{split} has {n} windows (accuracy moves in {100 / n:.3g}-point steps)"
             for split, n in small.items()]
    return (f"the splits of {name} are too small to decide much: {'; '.join(parts)}; differences of a few "
            f"windows are noise there (more data, or a larger dataset.val_fraction, helps).")


def make_datamodule(cfg) -> TimeSeriesDataModule:
    """The DataModule of `cfg.dataset` (uses `cfg.data_dir` and `cfg.seed`); nothing is loaded until setup."""
    name = cfg.dataset.name
    if name not in LOADERS:
        raise DataError(
            f"dataset={name} is not a known dataset; valid datasets are: {', '.join(sorted(LOADERS))}."
        )
    dataset = cfg.dataset
    return TimeSeriesDataModule(
        load=lambda: LOADERS[name](cfg),
        name=name,
        batch_size=dataset.get("batch_size", 64),
        seed=cfg.seed,
        val_fraction=dataset.get("val_fraction", 0.2),
        val_subjects=dataset.get("val_subjects", 0),
        expected_shape=(dataset.get("time_steps"), dataset.get("channels")),
        expected_classes=dataset.get("num_classes"),
    )
