"""Datasets (UCI-HAR, SkodaR, bundled aeon sets, user .npz), protocols and the one DataModule."""

from micronas.data.datamodule import TimeSeriesDataModule, make_datamodule
from micronas.data.windows import LoadedDataset, WindowSet

__all__ = ["LoadedDataset", "TimeSeriesDataModule", "WindowSet", "make_datamodule"]
