"""A shuffling sampler whose order is a function of (seed, epoch), so resumed training replays it exactly."""

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of `size` indices per epoch, drawn from a generator seeded by (seed, epoch).

    Lightning calls `set_epoch` before each epoch, also after resuming from a checkpoint, so the order
    of epoch `e` does not depend on how many epochs this process has already run.
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size
