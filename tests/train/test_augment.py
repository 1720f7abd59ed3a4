"""Retraining's augmentation and label smoothing: the right noise, on weight-training batches only."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from micronas.errors import ConfigError
from micronas.fitting.augment import Augmentation
from micronas.fitting.classifier import ClassifierModule


def test_jitter_and_scaling_have_the_configured_statistics():
    torch.manual_seed(0)
    ones = torch.ones(4000, 1, 32, 3)
    scaled = Augmentation(scale_std=0.2)(ones)
    # one factor per window and channel, constant over time
    assert torch.equal(scaled, scaled[:, :, :1, :].expand_as(scaled))
    assert scaled[:, 0, 0, :].std().item() == pytest.approx(0.2, rel=0.05)
    assert scaled.mean().item() == pytest.approx(1.0, abs=0.01)
    jittered = Augmentation(jitter_std=0.1)(torch.zeros(200, 1, 64, 3))
    assert jittered.std().item() == pytest.approx(0.1, rel=0.02)
    assert not Augmentation().active and torch.equal(Augmentation()(ones), ones)


class Recorder(nn.Module):
    """A linear classifier that remembers the inputs it saw."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.linear(x.flatten(1))


def test_only_weight_training_batches_are_augmented_and_smoothed():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 4, 2), torch.randint(0, 3, (16,))
    module = ClassifierModule(Recorder(), augmentation=Augmentation(jitter_std=0.5), label_smoothing=0.2)
    module.log = lambda *args, **kwargs: None
    train_loss = module._step((x, y), "train")
    module._step((x, y), "val")
    seen_train, seen_val = module.net.seen
    assert not torch.equal(seen_train, x) and torch.equal(seen_val, x)
    logits = module.net.linear(seen_train.flatten(1))
    assert train_loss.item() == pytest.approx(F.cross_entropy(logits, y, label_smoothing=0.2).item(), rel=1e-6)
    val_loss = module._step((x, y), "val")
    assert val_loss.item() == pytest.approx(F.cross_entropy(module.net.linear(x.flatten(1)), y).item(), rel=1e-6)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("inf"), True, "x"])
def test_a_bad_augmentation_setting_is_refused_in_one_sentence(value):
    with pytest.raises(ConfigError, match=r"^retraining.augmentation.jitter_std=.* is not valid: use a number"):
        Augmentation.from_config({"jitter_std": value})
