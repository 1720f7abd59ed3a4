"""int8 vs float argmax agreement >= 99 % on the real test windows of the bundled datasets."""

import numpy as np
import pytest
import torch

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.export.pipeline import export_network, nchw_to_nhwc
from micronas.export.tflm import TflmRunner
from micronas.space.architecture import Architecture, SFCell, TRCell
from micronas.space.discrete import DiscreteNet
from micronas.space.searchspace import SearchSpace

from .helpers import train_briefly

TRAINED_ACCURACY = (
    0.9  # below this a network is not "trained" and the test fails rather than passing vacuously
)
SKIPPED = SFCell(False, 16, 32, True, False, False, False, skip=True)
ARCHITECTURES = {
    "basicmotions": (
        Architecture(
            (100, 6),
            4,
            (TRCell(5, 12), TRCell(7, 16), SFCell(True, 8, 16, True, True, False, False), SKIPPED, SKIPPED),
        ),
        150,
    ),
    "japanesevowels": (
        Architecture(
            (25, 12), 9, (TRCell(7, 16), SFCell(True, 64, 40, True, True, True, False), SKIPPED, SKIPPED)
        ),
        60,
    ),
}


def datamodule(name, tmp_path):
    dm = make_datamodule(load_config("train", [f"dataset={name}", f"data_dir={tmp_path}"]))
    dm.setup()
    return dm


def agreement(arch, epochs, seed, dm, out_dir):
    """(float accuracy, int8 accuracy, argmax agreement) on the test windows after training and export."""
    torch.manual_seed(seed)
    net = train_briefly(DiscreteNet(arch), dm.train_dataloader(), epochs, seed)
    exported = export_network(net, dm.representative_windows(500), out_dir)
    x, y = (torch.cat(parts).numpy() for parts in zip(*dm.test_dataloader()))
    with torch.no_grad():
        float_predictions = net(torch.from_numpy(x)).argmax(1).numpy()
    int8_predictions = TflmRunner(exported.tflite).predict(nchw_to_nhwc(x)).argmax(1)
    return (
        float((float_predictions == y).mean()),
        float((int8_predictions == y).mean()),
        float((float_predictions == int8_predictions).mean()),
    )


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_int8_agrees_with_float_on_real_test_windows(name, tmp_path):
    arch, epochs = ARCHITECTURES[name]
    dm = datamodule(name, tmp_path)
    assert (dm.input_shape, dm.num_classes) == (arch.input_shape, arch.num_classes)
    float_accuracy, int8_accuracy, agreed = agreement(arch, epochs, 0, dm, tmp_path / "export")
    print(f"{name}: float {float_accuracy:.4f}, int8 {int8_accuracy:.4f}, agreement {agreed:.4f}")
    assert float_accuracy >= TRAINED_ACCURACY
    assert agreed >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_int8_agrees_with_float_for_trained_random_architectures(name, tmp_path):
    _, epochs = ARCHITECTURES[name]
    dm = datamodule(name, tmp_path)
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    trained = []
    for seed in range(6):
        arch = Architecture.random(space, np.random.default_rng(seed))
        result = agreement(arch, epochs, seed, dm, tmp_path / f"export{seed}")
        print(f"{name} seed {seed}: float {result[0]:.4f}, int8 {result[1]:.4f}, agreement {result[2]:.4f}")
        if result[0] >= TRAINED_ACCURACY:
            trained.append(result[2])
    assert len(trained) >= 3
    assert min(trained) >= 0.99
