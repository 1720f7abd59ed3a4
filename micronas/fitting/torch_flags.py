"""Process-wide torch flags that change no result a fit computes, only its speed, set while a fit runs.

Lightning callbacks: each sets its flag at the start of a fit and puts the previous value back at its end
or on an exception, so nothing outside the fit sees it.
"""

import pytorch_lightning as pl
import torch
import torch.utils.deterministic


class FlushDenormals(pl.Callback):
    """Flushes subnormal floats to zero while a search fits (CPU).

    At a low temperature the Gumbel samples, and the BatchNorm scales and activations they multiply, fall
    below 1.2e-38; x86 CPUs compute on such subnormal floats many times slower (a supernet step at tau 0.05
    took 4.5x the one at tau 1). Flushing them to zero changes no value above that size.
    """

    def on_fit_start(self, trainer, module) -> None:
        torch.set_flush_denormal(True)

    def on_fit_end(self, trainer, module) -> None:
        torch.set_flush_denormal(False)

    def on_exception(self, trainer, module, exception) -> None:
        torch.set_flush_denormal(False)


class NoUninitialisedFill(pl.Callback):
    """Leaves new tensors unfilled while a fit runs with deterministic algorithms (`trainer.deterministic`).

    With deterministic algorithms on, torch by default writes NaN into every new tensor's memory, so that
    code reading memory it never wrote gives NaN instead of noise. No micronas module reads such memory
    (a search resumed from a checkpoint still ends bit-identical, tested), and the fill cost a UCI-HAR
    search step 8 % (docs/search.md, "How fast"); the algorithms themselves stay deterministic.
    """

    def __init__(self):
        self._before = None  # the flag before this fit started (None: not started)

    def on_fit_start(self, trainer, module) -> None:
        self._before = torch.utils.deterministic.fill_uninitialized_memory
        torch.utils.deterministic.fill_uninitialized_memory = False

    def on_fit_end(self, trainer, module) -> None:
        if self._before is not None:
            torch.utils.deterministic.fill_uninitialized_memory, self._before = self._before, None

    def on_exception(self, trainer, module, exception) -> None:
        self.on_fit_end(trainer, module)
