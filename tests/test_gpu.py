"""GPU checks: the real CLIs and the retraining path with `trainer.accelerator=gpu` (skipped without CUDA).

On a machine with a CUDA GPU:

    python -m pytest -q tests/test_gpu.py

Each search runs `search.py` as a user would (real Hydra composition, a real sqlite MLflow store) on a
small generated `.npz` dataset; the retraining path runs `train_repeat`, quantisation-aware fine-tuning
and `evaluate` in this process. `train.py` itself needs TensorFlow (its int8 export), so its test is
skipped where `tensorflow` is not installed. `MICRONAS_TEST_ACCELERATOR=cpu` runs the same code path on
the CPU (a dry run on a machine without a GPU).
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.fitting.classifier import evaluate
from micronas.fitting.trainer import Accelerator
from micronas.train.qat import quantization_aware_finetune
from micronas.train.retrain import train_repeat
from micronas.train.settings import Retraining
from tests.train.conftest import small_basicmotions_arch

ROOT = Path(__file__).resolve().parents[1]
ACCELERATOR = os.environ.get("MICRONAS_TEST_ACCELERATOR", "gpu")
ON_GPU = ACCELERATOR == "gpu"
DEVICE_TYPE = "cuda" if ON_GPU else "cpu"
CLI_TIMEOUT_S = 300

pytestmark = pytest.mark.skipif(ON_GPU and not torch.cuda.is_available(), reason="needs a CUDA GPU")

CHANNELS, STEPS, CLASSES, WINDOWS = 6, 100, 4, 320


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    """X [N, C, T] float32: class-dependent sines in noise; y [N] in 0..3; no split (20 % drawn for test)."""
    rng = np.random.default_rng(0)
    y = np.arange(WINDOWS) % CLASSES
    t = np.arange(STEPS) / STEPS
    phase = rng.uniform(0, 2 * np.pi, (WINDOWS, CHANNELS, 1))
    noise = 0.3 * rng.standard_normal((WINDOWS, CHANNELS, STEPS))
    x = np.sin(2 * np.pi * (2 + 3 * y)[:, None, None] * t + phase) + noise
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    np.savez(path, X=x.astype(np.float32), y=y, channel_names=np.array([f"ch{i}" for i in range(CHANNELS)]))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One sqlite MLflow store for the module's CLI runs (creating its schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def run_cli(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / script), *overrides], cwd=cwd, capture_output=True, text=True,
        timeout=CLI_TIMEOUT_S, env={**os.environ, "MICRONAS_DATA_DIR": str(cwd / "data")},
    )
    print(result.stdout[-4000:])
    print(result.stderr[-4000:], file=sys.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def search(npz: Path, store: str, cwd: Path, *overrides: str) -> tuple[dict, str]:
    result = run_cli(
        "search.py", "dataset=npz", f"dataset.path={npz}", "mcu=nucleo_l552", "constraints.latency=50",
        f"trainer.accelerator={ACCELERATOR}", "trainer.enable_progress_bar=false",
        f"logger.tracking_uri={store}", f"hydra.run.dir={cwd / 'run'}", *overrides, cwd=cwd,
    )
    summary = json.loads((cwd / "run" / "summary.json").read_text())
    predicted = summary["predicted"]
    for key in ("latency_ms", "arena_bytes", "peak_bytes", "flash_bytes"):
        assert math.isfinite(predicted[key]) and predicted[key] > 0, (key, predicted)
    latency = summary["constraints"]["latency"]
    assert latency["budget"] == 50 and math.isfinite(latency["predicted"])
    assert 0.0 <= summary["validation"]["accuracy"] <= 1.0
    assert (cwd / "run" / "architecture.json").is_file()
    return summary, result.stdout + result.stderr


def check_mlflow_run(store: str, summary: dict) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(store)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["predicted/latency_ms"] == summary["predicted"]["latency_ms"]
    assert {"architecture.json", "summary.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


class DeviceProbe(Callback):
    """The device type the LightningModule trains on."""

    def __init__(self):
        self.devices = set()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.devices.add(module.device.type)
        self.devices.add(batch[0].device.type)


def test_retrain_qat_and_evaluate_on_the_accelerator(npz, tmp_path):
    cfg = load_config("train", ["dataset=npz", f"dataset.path={npz}", f"data_dir={tmp_path / 'data'}",
                                f"trainer.accelerator={ACCELERATOR}", "retraining.max_epochs=2",
                                "retraining.patience=50"])
    accelerator = Accelerator.from_config(cfg.trainer)
    assert accelerator == Accelerator(ACCELERATOR, 1)
    dm = make_datamodule(cfg)
    dm.setup()
    k = dm.num_classes
    assert k == CLASSES

    probe = DeviceProbe()
    trained = train_repeat(small_basicmotions_arch(), dm, Retraining.from_config(cfg.retraining), 0,
                           tmp_path / "ckpt", callbacks=[probe], accelerator=accelerator)
    assert probe.devices == {DEVICE_TYPE}
    assert trained.best_epoch in (0, 1) and math.isfinite(trained.arch_val_loss)
    assert (tmp_path / "ckpt" / "trained.pt").is_file() and (tmp_path / "ckpt" / "last.ckpt").is_file()
    net = trained.net
    assert next(net.parameters()).device.type == "cpu"  # fit_classifier hands the network back on the CPU

    on_cpu = evaluate(net, dm.test_dataloader(), k)
    on_device = evaluate(net.to(DEVICE_TYPE), dm.test_dataloader(), k)
    assert 0.0 <= on_device.accuracy <= 1.0 and 0.0 <= on_device.macro_f1 <= 1.0
    agree = float(np.mean(on_cpu.y_pred == on_device.y_pred))
    assert agree >= 0.95, f"CPU and {DEVICE_TYPE} predictions agree on only {agree:.0%} of the test windows"
    net = net.cpu()

    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [c.weight.detach().clone() for c in convs]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    statistics = [n.running_mean.clone() for n in norms]
    best = quantization_aware_finetune(net, dm, epochs=1, lr=1e-4, patience=20, accelerator=accelerator)
    assert math.isfinite(best.best)
    net = net.cpu()
    for conv, old in zip(convs, before):
        weight = conv.weight.detach()
        assert not torch.equal(weight, old)
        steps = weight / (weight.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)
        assert torch.allclose(steps, steps.round(), atol=1e-3)  # per-channel symmetric int8 grid
    for norm, mean in zip(norms, statistics):  # BN frozen during QAT
        assert torch.equal(norm.running_mean, mean)
    after = evaluate(net.to(DEVICE_TYPE), dm.test_dataloader(), k)
    assert 0.0 <= after.accuracy <= 1.0 and len(after.y_pred) == len(on_cpu.y_pred)


@pytest.mark.parametrize("method", ["dnas", "darts"])
def test_gradient_search_cli_on_the_accelerator(method, npz, store, tmp_path):
    summary, output = search(npz, store, tmp_path, f"search={method}", "search.epochs=1",
                             "++search.min_steps=0")
    assert summary["method"] == method
    assert summary["search"]["steps"] >= 1
    if ON_GPU:  # Lightning's banner of the search Trainer
        assert "GPU available: True (cuda), used: True" in output, output[-3000:]
    check_mlflow_run(store, summary)


def test_random_search_cli_on_the_accelerator(npz, store, tmp_path):
    summary, _ = search(npz, store, tmp_path, "search=random", "search.candidates=2", "search.epochs=1",
                        "search.patience=1")
    assert summary["method"] == "random" and summary["search"]["candidates"] == 2
    candidates = (tmp_path / "run" / "candidates.jsonl").read_text().splitlines()
    assert len(candidates) == 2
    check_mlflow_run(store, summary)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="train.py's int8 export needs tensorflow")
def test_train_cli_on_the_accelerator(npz, store, tmp_path):
    from micronas.cost.lut import DeviceIdentity, LookupTable
    from micronas.profiling.profile import profile_ops
    from micronas.hardware.local_device import LocalTflmDevice

    arch = small_basicmotions_arch()
    (tmp_path / "search").mkdir()
    arch_path = arch.save(tmp_path / "search" / "architecture.json")
    lut = tmp_path / "host.jsonl"
    mcu = load_config("train", ["mcu=host", f"mcu.cost.lut_path={lut}"]).mcu
    with LocalTflmDevice() as device:
        profile_ops(arch.ops(), device, LookupTable(lut, DeviceIdentity.from_mcu(mcu)), warmups=1, repeats=3)
    run_dir = tmp_path / "run"
    run_cli(
        "train.py", f"arch={arch_path}", "dataset=npz", f"dataset.path={npz}", "mcu=host",
        f"mcu.cost.lut_path={lut}", f"logger.tracking_uri={store}", f"hydra.run.dir={run_dir}",
        f"trainer.accelerator={ACCELERATOR}", "trainer.enable_progress_bar=false", "retraining.max_epochs=2",
        "retraining.quantization.method=qat", "retraining.quantization.qat_epochs=1",
        "retraining.measurement.repeats=3", cwd=tmp_path,
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "model_int8.tflite").is_file()
    assert 0.0 <= summary["int8"]["accuracy"] <= 1.0
    assert summary["repeats"][0]["quantization"] == "qat"
    for key in ("latency_ms", "arena_bytes", "flash_bytes"):
        assert math.isfinite(summary["predicted"][key])
