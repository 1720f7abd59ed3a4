"""The DataModule on the real bundled aeon sets: splits, train-only statistics, determinism, loaders."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from micronas.config import load_config
from micronas.data import TimeSeriesDataModule, make_datamodule
from micronas.errors import ConfigError, DataError

SPLITS = ("train", "arch-val", "test")


def rows(windows) -> set[bytes]:
    return {w.tobytes() for w in windows.x}


@pytest.fixture(scope="module")
def basicmotions():
    dm = make_datamodule(load_config("search", ["dataset=basicmotions"]))
    dm.setup()
    return dm


def test_basicmotions_shapes_and_disjoint_stratified_splits(basicmotions):
    dm = basicmotions
    assert isinstance(dm, TimeSeriesDataModule)
    assert dm.input_shape == (100, 6) and dm.num_classes == 4
    assert dm.class_names == ["badminton", "running", "standing", "walking"]
    assert [len(dm.windows(s)) for s in SPLITS] == [32, 8, 40]
    assert np.bincount(dm.windows("arch-val").y).tolist() == [2, 2, 2, 2]
    train, val, test = (rows(dm.windows(s)) for s in SPLITS)
    assert len(train) == 32 and not (train & val or train & test or val & test)
    x, y = dm.train_dataset[0]
    assert x.shape == (1, 100, 6) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_zscore_is_fitted_on_weight_training_windows_only(basicmotions):
    dm = basicmotions
    mean, std = dm.normalization
    assert mean.shape == std.shape == (6,)
    raw = {s: dm.windows(s).x for s in SPLITS}
    np.testing.assert_allclose(mean, raw["train"].mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(std, raw["train"].std(axis=(0, 1)), rtol=1e-5)
    everything = np.concatenate(list(raw.values()))
    assert not np.allclose(mean, everything.mean(axis=(0, 1)), rtol=1e-3)  # statistics would leak otherwise
    train = dm.train_dataset.tensors[0].numpy()
    np.testing.assert_allclose(train.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=(0, 1, 2)), 1, atol=1e-4)
    test = dm.test_dataset.tensors[0].numpy()[:, 0]
    np.testing.assert_allclose(test, (raw["test"] - mean) / std, atol=1e-5)


def test_dataloaders_give_batches_of_one_channel_images(basicmotions):
    x, y = next(iter(basicmotions.train_dataloader()))  # batch 8 (conf/dataset/basicmotions.yaml)
    assert x.shape == (8, 1, 100, 6) and y.shape == (8,)
    assert sum(len(y) for _, y in basicmotions.train_dataloader()) == 32
    assert next(iter(basicmotions.test_dataloader()))[0].shape == (8, 1, 100, 6)
    assert len(basicmotions.val_dataloader().dataset) == 8


def test_representative_windows_are_stratified_normalised_training_windows(basicmotions):
    reps = basicmotions.representative_windows(n=12)
    assert reps.shape == (12, 1, 100, 6) and reps.dtype == np.float32
    train = basicmotions.train_dataset.tensors[0].numpy()
    labels = basicmotions.windows("train").y
    index = [int(np.flatnonzero((train == r).all(axis=(1, 2, 3)))[0]) for r in reps]
    assert np.bincount(labels[index]).tolist() == [3, 3, 3, 3]
    assert basicmotions.representative_windows().shape == (32, 1, 100, 6)  # all 32 when n exceeds them


class TinyClassifier(pl.LightningModule):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.linear = torch.nn.Linear(input_shape[0] * input_shape[1], num_classes)

    def forward(self, x):
        return self.linear(x.flatten(1))

    def training_step(self, batch, _):
        return torch.nn.functional.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, _):
        self.log("val/loss", torch.nn.functional.cross_entropy(self(batch[0]), batch[1]))

    def test_step(self, batch, _):
        self.log("test/acc", (self(batch[0]).argmax(1) == batch[1]).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def test_a_lightning_trainer_consumes_the_datamodule(compose):
    dm = make_datamodule(compose("dataset=basicmotions"))
    trainer = pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    model = TinyClassifier(dm.input_shape, dm.num_classes)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 8  # 32 training windows, batch 8: four steps per epoch
    assert trainer.train_dataloader.sampler.epoch == 1  # Lightning sets the epoch of the shuffling sampler
    assert 0.0 <= trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"] <= 1.0


def test_training_order_depends_only_on_seed_and_epoch(basicmotions):
    sampler = basicmotions.train_dataloader().sampler
    sampler.set_epoch(3)
    third = list(sampler)
    fresh = basicmotions.train_dataloader().sampler  # a resumed process starts with a new loader
    fresh.set_epoch(3)
    assert list(fresh) == third and sorted(third) == list(range(32))
    sampler.set_epoch(4)
    assert list(sampler) != third


def test_same_seed_same_data_other_seed_other_arch_val(compose):
    def build(seed):
        dm = make_datamodule(compose("dataset=japanesevowels", f"seed={seed}"))
        dm.setup()
        return dm

    first, again, other = build(0), build(0), build(1)
    for split in SPLITS:
        np.testing.assert_array_equal(first.windows(split).x, again.windows(split).x)
    np.testing.assert_array_equal(first.representative_windows(50), again.representative_windows(50))
    batch, batch_again = next(iter(first.train_dataloader())), next(iter(again.train_dataloader()))
    assert torch.equal(batch[0], batch_again[0]) and torch.equal(batch[1], batch_again[1])
    assert rows(first.windows("arch-val")) != rows(other.windows("arch-val"))
    assert rows(first.windows("test")) == rows(other.windows("test"))  # aeon's own TEST split


def test_japanesevowels_is_fitted_to_25_steps(compose):
    dm = make_datamodule(compose("dataset=japanesevowels"))
    assert dm.input_shape == (25, 12) and dm.num_classes == 9
    assert [len(dm.windows(s)) for s in SPLITS] == [216, 54, 370]
    padded = dm.windows("test").x
    assert (padded[:, -1] == 0).all(axis=1).sum() > 300  # most utterances are shorter than 25 frames


def test_config_that_disagrees_with_the_data_is_refused(compose):
    with pytest.raises(DataError, match="dataset.time_steps=120 does not match basicmotions, which has 100"):
        make_datamodule(compose("dataset=basicmotions", "dataset.time_steps=120")).setup()
    with pytest.raises(
        DataError, match="dataset.num_classes=5 does not match basicmotions, which has 4 classes"
    ):
        make_datamodule(compose("dataset=basicmotions", "dataset.num_classes=5")).setup()


def test_unknown_dataset_name_is_refused():
    with pytest.raises(ConfigError, match="dataset=nosuch is not a known dataset"):
        load_config("search", ["dataset=nosuch"])
    cfg = OmegaConf.create({"dataset": {"name": "nosuch"}, "data_dir": "data", "seed": 0})
    with pytest.raises(
        DataError, match="dataset=nosuch is not a known dataset; valid datasets are: basicmotions"
    ):
        make_datamodule(cfg)
