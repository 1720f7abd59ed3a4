"""Quantisation-aware fine-tuning (docs/method.md §9.7): fake int8 quantisation in PyTorch.

While attached, every conv weight is fake-quantised per output channel, symmetric in [-127, 127], as
the converter quantises the BN-folded weight (a per-channel scale commutes with the per-channel BN
gain, so quantising `W` is quantising `W * g`), and the network input, every conv output, every cell
output (the final ADD) and the class logits are fake-quantised per tensor to int8 with a running
min/max range. Gradients pass straight through. BatchNorm statistics are frozen, so the folded
weights the exporter sees are the ones that were fine-tuned. Detaching leaves the weights on their
int8 grid; the network is then exported (and re-calibrated) as usual.
"""

import torch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.nn.utils import parametrize

from micronas.space.discrete import DiscreteNet, SFNet
from micronas.space.layers import ConvBNReLU
from micronas.fitting.classifier import RestoreBest, fit_classifier
from micronas.fitting.trainer import Accelerator

RANGE_MOMENTUM = 0.1


class WeightFakeQuant(nn.Module):
    """Per-output-channel symmetric int8 fake quantisation of a conv weight `[out, in, kh, kw]`."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        scale = weight.detach().abs().amax(dim=(1, 2, 3)).clamp(min=1e-12) / 127
        zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
        return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -127, 127)


class ActivationFakeQuant(nn.Module):
    """Per-tensor asymmetric int8 fake quantisation; the range (always holding 0) follows a running
    min/max while training and stays fixed in eval mode."""

    def __init__(self):
        super().__init__()
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            low, high = x.detach().min().clamp(max=0), x.detach().max().clamp(min=0)
            if self.seen:
                low = torch.lerp(self.low, low, RANGE_MOMENTUM)
                high = torch.lerp(self.high, high, RANGE_MOMENTUM)
            self.low.copy_(low), self.high.copy_(high), self.seen.fill_(True)
        if not self.seen:
            return x
        scale = float((self.high - self.low).clamp(min=1e-8) / 255)
        zero = int(torch.clamp(torch.round(-128 - self.low / scale), -128, 127))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, -128, 127)


class FakeQuantization:
    """Fake-quant weights and activations of a `DiscreteNet` in place until `detach()`."""

    def __init__(self, net: DiscreteNet):
        self.net = net
        self.convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        for conv in self.convs:
            parametrize.register_parametrization(conv, "weight", WeightFakeQuant())
        watched = [m for m in net.modules() if isinstance(m, (ConvBNReLU, SFNet))] + [net.head]
        self.observers = nn.ModuleList(ActivationFakeQuant() for _ in range(len(watched) + 1))
        self.hooks = [
            module.register_forward_hook(self._output_hook(observer))
            for module, observer in zip(watched, self.observers)
        ]
        self.hooks.append(net.register_forward_pre_hook(self._input_hook(self.observers[-1])))

    @staticmethod
    def _output_hook(observer: ActivationFakeQuant):
        def hook(module, inputs, output):
            observer.train(module.training)
            return observer.to(output.device)(output)

        return hook

    @staticmethod
    def _input_hook(observer: ActivationFakeQuant):
        def hook(module, inputs):
            observer.train(module.training)
            return (observer.to(inputs[0].device)(inputs[0]),)

        return hook

    def detach(self) -> None:
        """Remove the hooks and leave every conv weight at its fake-quantised (int8 grid) value."""
        for hook in self.hooks:
            hook.remove()
        for conv in self.convs:
            parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)


class FreezeBatchNorm(Callback):
    """Keep BatchNorm layers in eval mode (running statistics fixed) in every training epoch."""

    def on_train_epoch_start(self, trainer, module) -> None:
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.eval()


def quantization_aware_finetune(
    net: DiscreteNet, datamodule, epochs: int, lr: float, patience: int, logger=False,
    accelerator: Accelerator = Accelerator(), progress: str = "",
) -> RestoreBest:
    """Fine-tune `net` with fake int8 quantisation for at most `epochs` (early stopping on arch-val,
    best weights restored); the weights end on their per-channel int8 grid."""
    net.train()
    fake = FakeQuantization(net)
    try:
        return fit_classifier(
            net, datamodule, epochs, patience, lr, logger=logger, callbacks=[FreezeBatchNorm()],
            accelerator=accelerator, progress=progress,
        )
    finally:
        fake.detach()
