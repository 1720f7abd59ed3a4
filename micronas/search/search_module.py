"""`SearchModule`: alternating first-order bi-level architecture search over a SuperNet (docs/method.md §4).

A search of `total_steps` weight steps starts with `warmup_fraction` of them weight-only (the supernet
learns on uniformly sampled paths before any architecture decision is taken); every `arch_every`-th later
step (by default every one) is one architecture step on an arch-val batch (cross-entropy plus, for DNAS,
the hardware-aware loss of the expected costs, ramped in over the first `ramp_fraction` of the
architecture steps) then one weight step on a training batch (cross-entropy only, fresh noise,
gradient-norm clip). The temperature and the architecture learning rate are scheduled over the
architecture steps only. `method="dnas"` relaxes every decision with Gumbel-softmax; `method="darts"`
uses plain `softmax(alpha)` and no hardware terms.

The expected costs are taken under `costs_under`: `sampled` (default) is `softmax(alpha)`, the
distribution Gumbel-max draws the trained paths from, whatever the temperature, so the budget binds the
networks the supernet trains and its gradient does not vanish as tau falls; `sharpened` is docs/method.md's
`softmax(alpha / tau)`; `sample` is the reference code's noisy soft sample.

Every source of randomness of a step (Gumbel noise, dropout) is seeded from `(seed, step)`, and the
arch-val order from `(seed, epoch)`, so a search resumed from an epoch checkpoint ends exactly where an
uninterrupted one does.
"""

from collections.abc import Callable
from itertools import cycle

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from micronas.budgets import FIELDS
from micronas.errors import ConfigError
from micronas.search.relaxation import ArchitectureLogits, mean_entropy
from micronas.search.settings import GradientSearch
from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet
from micronas.space.searchspace import SearchSpace
from micronas.space.supernet import SuperNet
from micronas.fitting.classifier import epochs_for
from micronas.fitting.torch_flags import FlushDenormals, NoUninitialisedFill

COST_UNITS = {"latency": "ms", "memory": "bytes", "peak": "bytes", "flash": "bytes"}
# choice probabilities -> expected costs, e.g. `micronas.cost.expected.ExpectedCosts(space, model)`
CostFunction = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
"""Maps relaxed choice probabilities to differentiable expected costs, keyed by budget name
(`latency` in ms, `memory` and `flash` in bytes)."""


CHECKPOINT_KEY = "micronas_search"


def search_identity(space: SearchSpace, settings: GradientSearch, seed: int, total_steps: int,
                    targets: dict) -> dict:
    """The settings a search checkpoint records and a resumed search must repeat: the space, seed, length,
    budgets and every setting that changes the trajectory (`GradientSearch.trajectory`)."""
    return {"space": str(space), "seed": int(seed), "total_steps": int(total_steps),
            "targets": dict(targets) if settings.method == "dnas" else {}, **settings.trajectory()}


def search_steps(batches_per_epoch: int, settings: GradientSearch) -> tuple[int, int]:
    """`(epochs, weight steps)` of a search: `search.epochs`, or more to reach `search.min_steps`."""
    epochs = max(settings.epochs, epochs_for(settings.min_steps, batches_per_epoch))
    return epochs, epochs * batches_per_epoch


def differences(saved, current, prefix: str = "") -> list[str]:
    """`key: saved != current` for every leaf where two nested dicts differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [line for key in sorted(set(saved) | set(current), key=str)
                for line in differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    if saved == current:
        return []
    return [f"{prefix.rstrip('.')}: {saved!r} != {current!r}" if prefix else f"{saved!r} != {current!r}"]


def check_resumable(saved: dict | None, current: dict) -> None:
    """Refuse (one sentence) to resume a checkpoint written by a search with other settings."""
    if saved != current:
        raise ConfigError(
            f"the checkpoint belongs to another search ({'; '.join(differences(saved, current))}, checkpoint "
            "!= this search); resume with the dataset, search settings, seed, epochs and budgets it was "
            "started with."
        )


def budget_targets(constraints: dict) -> dict[str, float]:
    """The constrained budgets in the units of the expected costs: latency ms, memory and flash bytes."""
    return {name: float(value) * FIELDS[name][1] for name, value in constraints.items() if value is not None}


class EpochMeans:
    """Per-epoch means of training figures, summed as tensors (no per-step logging or host sync)."""

    def __init__(self):
        self._sums: dict[str, list] = {}

    def add(self, name: str, value: torch.Tensor, weight: int = 1) -> None:
        total = self._sums.setdefault(name, [0.0, 0])
        total[0] = total[0] + value.detach() * weight
        total[1] += weight

    def pop(self) -> dict[str, torch.Tensor]:
        """The means since the last `pop`, and a fresh start."""
        means = {name: total / count for name, (total, count) in self._sums.items()}
        self._sums = {}
        return means


class SearchModule(pl.LightningModule):
    """DNAS or DARTS over the SuperNet of `space`; `derive()` gives the found `Architecture`."""

    def __init__(self, space: SearchSpace, settings: GradientSearch, total_steps: int, arch_val: Dataset,
                 batch_size: int, seed: int, targets: dict[str, float] | None = None,
                 expected_costs: CostFunction | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.space, self.settings, self.total_steps = space, settings, int(total_steps)
        self.warmup_steps = round(settings.warmup_fraction * self.total_steps)
        self.arch_steps = -(-(self.total_steps - self.warmup_steps) // settings.arch_every)
        self.ramp_steps = round(settings.hardware_loss.ramp_fraction * self.arch_steps)
        self.arch_val, self.batch_size, self.seed = arch_val, batch_size, int(seed)
        self.targets = dict(targets or {}) if settings.method == "dnas" else {}
        self.expected_costs = expected_costs
        if self.targets and expected_costs is None:
            raise ValueError("a constrained DNAS search needs expected costs")
        generator = torch.Generator().manual_seed(self.seed)
        self.supernet = SuperNet(space)
        self.arch_logits = ArchitectureLogits(space, generator)
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long))
        self._arch_batches = None
        self._epoch_means = EpochMeans()

    # ---- relaxation ---------------------------------------------------------------------------------

    @property
    def arch_step(self) -> int:
        """Architecture steps taken so far (0 during the warm-up); during a step that takes one, its index."""
        return max(0, -(-(int(self.step_count) - self.warmup_steps) // self.settings.arch_every))

    @property
    def takes_arch_step(self) -> bool:
        """Whether an architecture step precedes this weight step (every `arch_every`-th after the
        warm-up)."""
        after_warmup = int(self.step_count) - self.warmup_steps
        return after_warmup >= 0 and after_warmup % self.settings.arch_every == 0

    @property
    def temperature(self) -> float:
        """The temperature of the current architecture step (initial during the warm-up)."""
        return self.settings.temperature.at(min(self.arch_step, self.arch_steps - 1), self.arch_steps)

    def relaxed_choices(self, detach: bool) -> dict[str, torch.Tensor]:
        """The choices the SuperNet runs with this step: a Gumbel sample (DNAS) or softmax (DARTS)."""
        if self.settings.method == "darts":
            probabilities = self.arch_logits.probabilities()
            return {k: v.detach() for k, v in probabilities.items()} if detach else probabilities
        return self.arch_logits.gumbel_sample(self.temperature, detach=detach)

    def cost_probabilities(self, sample: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The probabilities the expected costs are taken under (`costs_under`; DARTS: softmax(alpha))."""
        if self.settings.method == "darts" or self.settings.costs_under == "sampled":
            return self.arch_logits.probabilities()
        if self.settings.costs_under == "sample" and sample is not None:
            return sample
        return self.arch_logits.probabilities(self.temperature)

    @property
    def hardware_weight(self) -> float:
        """The ramp of the hardware loss: from 1 / ramp_steps at the first architecture step to 1."""
        return min(1.0, (self.arch_step + 1) / self.ramp_steps) if self.ramp_steps else 1.0

    @property
    def sharpening_weight(self) -> float:
        """The weight of the entropy term (DNAS): from 0 at the first architecture step to
        `search.sharpening` at the last."""
        if self.settings.method != "dnas" or not self.arch_steps:
            return 0.0
        return self.settings.sharpening * (self.arch_step + 1) / self.arch_steps

    def hardware_terms(self, probabilities: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The hardware-aware loss per constrained budget (empty for DARTS or no constraints)."""
        if not self.targets:
            return {}
        costs = self.expected_costs(probabilities)
        loss, ramp = self.settings.hardware_loss, self.hardware_weight
        if loss.at == "derived":
            # the value at the architecture derived now (one-hot expected costs are its exact costs), the
            # gradient of the expected costs (straight-through): the budget binds what is deployed
            derived = {k: v.to(self.device) for k, v in self.derive().one_hot().items()}
            exact = {name: value.detach() for name, value in self.expected_costs(derived).items()}
            costs = {name: value + (exact[name] - value).detach() for name, value in costs.items()}
        return {name: ramp * loss(costs[name], target) for name, target in self.targets.items()}

    # ---- optimisation -------------------------------------------------------------------------------

    def configure_optimizers(self):
        weights = torch.optim.Adam(self.supernet.parameters(), lr=self.settings.weights_lr, foreach=True)
        arch = torch.optim.SGD(self.arch_logits.parameters(), lr=self.settings.arch_lr, momentum=0.0)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
            arch, T_max=max(1, self.arch_steps), eta_min=self.settings.arch_final_lr
        )
        return [weights, arch], [cosine]

    def configure_callbacks(self):
        return [FlushDenormals(), NoUninitialisedFill()]

    def on_train_epoch_start(self) -> None:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.current_epoch)
        loader = DataLoader(self.arch_val, batch_size=self.batch_size, shuffle=True, generator=generator,
                            drop_last=len(self.arch_val) > self.batch_size)
        self._arch_batches = cycle([(x.to(self.device), y.to(self.device)) for x, y in loader])

    def training_step(self, batch, batch_idx):
        torch.manual_seed(self.seed * 1_000_003 + int(self.step_count))
        weights_opt, arch_opt = self.optimizers()
        if self.takes_arch_step:
            x_val, y_val = next(self._arch_batches)
            self.toggle_optimizer(arch_opt)
            sample = self.relaxed_choices(detach=False)
            arch_ce = F.cross_entropy(self.supernet(x_val, sample), y_val)
            terms = self.hardware_terms(self.cost_probabilities(sample))
            if self.sharpening_weight:
                terms["entropy"] = self.sharpening_weight * mean_entropy(self.arch_logits.probabilities())
            arch_opt.zero_grad()
            self.manual_backward(arch_ce + sum(terms.values()))
            arch_opt.step()
            self.lr_schedulers().step()
            self.untoggle_optimizer(arch_opt)
            self._epoch_means.add("arch/ce", arch_ce)
            for name, term in terms.items():
                self._epoch_means.add(f"arch/loss_{name}", term)

        x, y = batch
        self.toggle_optimizer(weights_opt)
        logits = self.supernet(x, self.relaxed_choices(detach=True))
        loss = F.cross_entropy(logits, y)
        weights_opt.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(weights_opt, gradient_clip_val=self.settings.grad_clip_norm,
                            gradient_clip_algorithm="norm")
        weights_opt.step()
        self.untoggle_optimizer(weights_opt)
        self.step_count += 1
        self._epoch_means.add("train/loss", loss, len(y))
        self._epoch_means.add("train/acc", (logits.argmax(1) == y).float().mean(), len(y))

    # ---- the derived path ---------------------------------------------------------------------------

    def derive(self) -> Architecture:
        """Argmax of every decision (a used cell with nothing on deploys as its residual)."""
        return Architecture.derive(self.space, {k: v.detach() for k, v in self.arch_logits.as_dict().items()})

    def on_validation_epoch_start(self) -> None:
        # the derived network as it deploys, sharing the supernet's weights: equal to the one-hot supernet
        # and a tenth of its cost (it runs no unchosen candidate)
        with torch.random.fork_rng(devices=[]):
            net = DiscreteNet(self.derive()).load_from_supernet(self.supernet).to(self.device).eval()
        object.__setattr__(self, "_derived_net", net)  # not a child module: checkpoints hold the supernet

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self._derived_net(x)
        self.log("val/loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val/acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)

    def on_train_epoch_end(self) -> None:
        for name, mean in self._epoch_means.pop().items():
            self.log(name, mean, prog_bar=name == "train/loss")
        self.log("arch/temperature", self.temperature)
        # one number for convergence; each decision's probabilities are the run's choice table and figure
        with torch.no_grad():
            self.log("arch/mean_entropy", float(mean_entropy(self.arch_logits.probabilities())))
            costs = self.expected_costs(self.cost_probabilities()) if self.expected_costs is not None else {}
            for name, value in costs.items():
                self.log(f"arch/expected_{name}_{COST_UNITS[name]}", float(value))

    def identity(self) -> dict:
        """What a checkpoint must agree on to resume this search."""
        return search_identity(self.space, self.settings, self.seed, self.total_steps, self.targets)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = self.identity()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        check_resumable(checkpoint.get(CHECKPOINT_KEY), self.identity())
