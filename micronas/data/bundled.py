"""The offline datasets bundled with aeon; their own TRAIN/TEST split is the train/test split."""

import importlib

import numpy as np

from micronas.data.windows import LoadedDataset, WindowSet

# name -> (aeon loader in aeon.datasets, channel names in aeon's dimension order); aeon is imported only
# when a bundled set is loaded (it is slow to import and the other datasets do not need it)
BUNDLED = {
    # UEA BasicMotions: dimensions 0-2 accelerometer, 3-5 gyroscope (smart watch, 10 Hz, 10 s).
    "basicmotions": ("load_basic_motions", ["accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z"]),
    # UEA JapaneseVowels: 12 LPC cepstrum coefficients per frame, utterances of 7..29 frames.
    "japanesevowels": ("load_japanese_vowels", [f"lpc_{i}" for i in range(1, 13)]),
}


def fit_length(series: list[np.ndarray] | np.ndarray, time_steps: int) -> np.ndarray:
    """Series [C, T_i] as float32 [N, time_steps, C]: shorter ones get zeros appended, longer ones are cut."""
    out = np.zeros((len(series), time_steps, series[0].shape[0]), dtype=np.float32)
    for i, one in enumerate(series):
        length = min(one.shape[1], time_steps)
        out[i, :length] = one[:, :length].T
    return out


def load_bundled(dataset_cfg) -> LoadedDataset:
    """Load `dataset_cfg.name` from aeon; variable-length sets are fitted to `dataset_cfg.time_steps`."""
    loader_name, channels = BUNDLED[dataset_cfg.name]
    loader = getattr(importlib.import_module("aeon.datasets"), loader_name)
    (x_train, y_train), (x_test, y_test) = loader(split="train"), loader(split="test")
    class_names = sorted(set(y_train) | set(y_test))
    code = {name: i for i, name in enumerate(class_names)}

    def windows(x, y) -> WindowSet:
        if isinstance(x, list):
            x = fit_length(x, int(dataset_cfg.time_steps))
        else:
            x = np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float32)
        return WindowSet(x, np.array([code[label] for label in y], dtype=np.int64))

    return LoadedDataset(
        train=windows(x_train, y_train),
        test=windows(x_test, y_test),
        class_names=[str(name) for name in class_names],
        channel_names=list(channels),
        protocol="aeon train/test",
    )
