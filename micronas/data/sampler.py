"""Training-set shuffling whose order depends only on (seed, epoch), so a resumed run replays it exactly."""

import numpy as np
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation of `size` indices per epoch, drawn from `SeedSequence([seed, epoch])`.

    Lightning calls `set_epoch` before every training epoch, also after restoring a checkpoint, so
    the order of epoch e is the same whether or not the process ran the epochs before it.
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch]))
        return iter(rng.permutation(self.size).tolist())

    def __len__(self) -> int:
        return self.size
