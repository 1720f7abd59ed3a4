"""The search LightningModule on real bundled data: it learns, derives, and resumes exactly."""

import contextlib
import copy
import re

import pytest
import pytorch_lightning as pl
import torch
import torch.utils.deterministic
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from micronas.config import load_config
from micronas.cost.expected import ExpectedCosts
from micronas.cost.extremes import extreme
from micronas.cost.model import CostModel
from micronas.data import make_datamodule
from micronas.errors import ConfigError
from micronas.search.hardware_loss import hardware_loss
from micronas.search.search_module import SearchModule
from micronas.search.settings import GradientSearch
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace

EPOCHS = 3


class Killed(Exception):
    pass


class KillAtEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise Killed()


@pytest.fixture(scope="module")
def data():
    cfg = load_config("search", ["dataset=basicmotions", f"search.epochs={EPOCHS}"])
    dm = make_datamodule(cfg)
    dm.setup()
    return cfg, dm


def make_module(cfg, dm, method="dnas"):
    cfg.search.method = method
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    steps = len(dm.train_dataloader()) * cfg.search.epochs
    return SearchModule(space, GradientSearch.from_config(cfg.search), steps, dm.val_dataset, dm.batch_size,
                        cfg.seed)


def fit(module, dm, tmp_path, callbacks=(), ckpt_path=None):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = pl.Trainer(max_epochs=EPOCHS, logger=False, callbacks=[checkpoint, *callbacks],
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         num_sanity_val_steps=0)
    trainer.fit(module, dm.train_dataloader(), dm.val_dataloader(), ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize("method", ["dnas", "darts"])
def test_a_search_moves_the_architecture_logits_and_derives_a_valid_architecture(data, tmp_path, method):
    cfg, dm = data
    module = make_module(cfg, dm, method)
    before = {k: v.detach().clone() for k, v in module.arch_logits.as_dict().items()}
    trainer = fit(module, dm, tmp_path)
    after = module.arch_logits.as_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k].detach())]
    assert len(moved) == len(before), f"logits that never moved: {set(before) - set(moved)}"
    arch = module.derive()
    assert Architecture.from_json(arch.to_json()) == arch
    assert arch.ops()[-1].kind == "softmax"
    assert 0.0 <= float(trainer.callback_metrics["val/acc"]) <= 1.0
    assert int(module.step_count) == module.total_steps


@pytest.mark.parametrize("arch_every", [1, 3])
def test_a_killed_search_resumes_to_the_same_result(data, tmp_path, arch_every):
    cfg, dm = copy.deepcopy(data[0]), data[1]
    cfg.search.arch_every = arch_every
    pl.seed_everything(0)
    uninterrupted = make_module(cfg, dm)
    fit(uninterrupted, dm, tmp_path / "whole")

    pl.seed_everything(0)
    with pytest.raises(Killed):
        fit(make_module(cfg, dm), dm, tmp_path / "killed", callbacks=[KillAtEpoch(2)])
    pl.seed_everything(123)  # a different process state must not matter
    resumed = make_module(cfg, dm)
    fit(resumed, dm, tmp_path / "killed", ckpt_path=str(tmp_path / "killed" / "last.ckpt"))

    assert int(resumed.step_count) == int(uninterrupted.step_count)
    for key, value in uninterrupted.arch_logits.as_dict().items():
        torch.testing.assert_close(resumed.arch_logits.as_dict()[key], value, rtol=0, atol=0)
    for (name, a), (_, b) in zip(uninterrupted.supernet.state_dict().items(), resumed.supernet.state_dict().items()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    assert resumed.derive() == uninterrupted.derive()


@pytest.fixture(scope="module")
def killed_checkpoint(data, tmp_path_factory):
    """The checkpoint of a default search killed after its first epoch."""
    folder = tmp_path_factory.mktemp("killed")
    with pytest.raises(Killed):
        fit(make_module(copy.deepcopy(data[0]), data[1]), data[1], folder, callbacks=[KillAtEpoch(1)])
    return folder / "last.ckpt"


@pytest.mark.parametrize("override, changed", [
    ("arch_every=3", "arch_every: 1 != 3"),
    ("warmup_fraction=0.5", "warmup_fraction: 0.3 != 0.5"),
    ("temperature.final=0.1", "temperature.final: 0.01 != 0.1"),
    ("temperature.schedule=reference", "temperature.schedule: 'exponential' != 'reference'"),
    ("costs_under=sharpened", "costs_under: 'sampled' != 'sharpened'"),
    ("hardware_loss.gamma_hi=2.0", "hardware_loss.gamma_hi: 4.0 != 2.0"),
    ("hardware_loss.ramp_fraction=0.5", "hardware_loss.ramp_fraction: 0.2 != 0.5"),
    ("sharpening=1.0", "sharpening: 0.0 != 1.0"),
    ("weights_optimizer.lr=0.01", "weights_lr: 0.001 != 0.01"),
    ("weights_optimizer.grad_clip_norm=1.0", "grad_clip_norm: 5.0 != 1.0"),
    ("arch_optimizer.lr=0.1", "arch_lr: 0.36 != 0.1"),
    ("arch_optimizer.final_lr=0.01", "arch_final_lr: 0.0008 != 0.01"),
])
def test_a_checkpoint_of_a_search_with_another_trajectory_is_refused(data, killed_checkpoint, tmp_path,
                                                                     override, changed):
    cfg, dm = copy.deepcopy(data[0]), data[1]
    cfg.search = OmegaConf.merge(cfg.search, OmegaConf.from_dotlist([override]))
    refusal = rf"^the checkpoint belongs to another search \({re.escape(changed)}, checkpoint != this "
    with pytest.raises(ConfigError, match=refusal):
        fit(make_module(cfg, dm), dm, tmp_path, ckpt_path=str(killed_checkpoint))


def test_the_derivation_rule_is_no_part_of_the_resume_identity(data, killed_checkpoint, tmp_path):
    cfg, dm = copy.deepcopy(data[0]), data[1]
    cfg.search.derivation = "argmax"
    fit(make_module(cfg, dm), dm, tmp_path, ckpt_path=str(killed_checkpoint))


def test_a_violated_latency_budget_moves_the_logits_toward_cheaper_architectures(data, tmp_path):
    cfg, dm = data
    cfg = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552", f"search.epochs={EPOCHS}"])
    cost_model = CostModel.from_mcu(cfg.mcu)
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    expected = ExpectedCosts(space, cost_model)
    steps = len(dm.train_dataloader()) * EPOCHS
    latency_ms, derived_ms = {}, {}
    for method in ("dnas", "darts"):
        cfg.search.method = method
        pl.seed_everything(0)  # the outcome must not depend on the tests run before
        module = SearchModule(space, GradientSearch.from_config(cfg.search), steps, dm.val_dataset, dm.batch_size,
                              cfg.seed, {"latency": 20.0}, expected)
        initial = float(expected(module.arch_logits.probabilities())["latency"])
        fit(module, dm, tmp_path / method)
        latency_ms[method] = float(expected(module.arch_logits.probabilities())["latency"])
        derived_ms[method] = cost_model.predict(module.derive()).latency_ms
    # DNAS pays the hardware loss: its distribution moves to cheaper choices and the network it derives
    # meets the 20 ms budget; DARTS ignores the budget by construction.
    assert latency_ms["dnas"] < 0.8 * initial
    assert derived_ms["dnas"] <= 20.0 < derived_ms["darts"]
    assert latency_ms["darts"] == pytest.approx(initial, rel=0.05)


@pytest.mark.parametrize("at", ["expected", "derived"])
def test_a_loss_at_the_derived_architecture_binds_its_exact_cost_where_the_mean_is_within_budget(data, at):
    """Audit finding 4: the budget bound the expected latency, not the network derived from it."""
    cfg = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552", f"search.epochs={EPOCHS}",
                                 f"search.hardware_loss.at={at}", "search.hardware_loss.ramp_fraction=0"])
    dm, cost_model = data[1], CostModel.from_mcu(cfg.mcu)
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    expected = ExpectedCosts(space, cost_model)
    dearest = extreme(space, cost_model, "latency", cheapest=False).arch
    module = SearchModule(space, GradientSearch.from_config(cfg.search), 10, dm.val_dataset, dm.batch_size,
                          cfg.seed, {"latency": 1.0}, expected)
    module.step_count.fill_(module.warmup_steps)
    with torch.no_grad():  # the dearest architecture is the argmax, by a small margin on every decision
        for key, logits in module.arch_logits.as_dict().items():
            logits.copy_(0.1 * dearest.one_hot()[key])
    assert module.derive() == dearest
    mean = float(expected(module.arch_logits.probabilities())["latency"])
    exact = cost_model.predict(dearest).latency_ms
    assert mean < exact
    budget = (mean + exact) / 2  # the mean meets it, the derived network does not
    module.targets = {"latency": budget}
    term = module.hardware_terms(module.arch_logits.probabilities())["latency"]
    term.backward()
    at_point = exact if at == "derived" else mean
    assert float(term) == pytest.approx(float(hardware_loss(torch.tensor(at_point), budget)), rel=1e-5)
    # the gradient is the expected latency's, times the loss's slope at its point: gamma / cost, with
    # gamma_hi = 4 above the budget and gamma_lo = 0.002 below it (a push 2000x weaker)
    parameters = list(module.arch_logits.parameters())
    mean_gradient = torch.autograd.grad(expected(module.arch_logits.probabilities())["latency"], parameters)
    slope = (4.0 if at_point > budget else 0.002) / at_point
    for parameter, gradient in zip(parameters, mean_gradient):
        torch.testing.assert_close(parameter.grad, slope * gradient, rtol=1e-4, atol=1e-9)


class Trace(Callback):
    """Per step: the step count before it, the temperature, the architecture lr, and the logits after it."""

    def __init__(self):
        self.rows = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.before = (int(module.step_count), module.temperature)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        logits = torch.cat([v.detach().clone() for v in module.arch_logits.as_dict().values()])
        self.rows.append((*self.before, module.optimizers()[1].param_groups[0]["lr"], logits))


def test_warm_up_trains_weights_only_and_the_schedules_span_the_architecture_steps(data, tmp_path):
    """A fixed fault: the cosine horizon counted warm-up steps and tau decayed during the warm-up."""
    cfg, dm = data
    module = make_module(cfg, dm)
    trace = Trace()
    fit(module, dm, tmp_path, callbacks=[trace])
    warmup = module.warmup_steps
    assert warmup == round(cfg.search.warmup_fraction * module.total_steps) > 0
    assert all(torch.equal(row[3], trace.rows[0][3]) for row in trace.rows[:warmup])
    assert not torch.equal(trace.rows[warmup][3], trace.rows[warmup - 1][3])
    temperatures = [row[1] for row in trace.rows]
    assert temperatures[: warmup + 1] == [cfg.search.temperature.initial] * (warmup + 1)
    assert temperatures[-1] == pytest.approx(cfg.search.temperature.final)
    assert trace.rows[-1][2] == pytest.approx(cfg.search.arch_optimizer.final_lr)


def test_with_arch_every_k_the_logits_move_on_every_kth_step_and_the_schedules_end_on_time(data, tmp_path):
    cfg, dm = copy.deepcopy(data[0]), data[1]
    cfg.search.arch_every = 3
    module = make_module(cfg, dm)
    trace = Trace()
    fit(module, dm, tmp_path, callbacks=[trace])
    moved = [step for (step, *_), (_, _, _, before), (_, _, _, after) in zip(trace.rows[1:], trace.rows, trace.rows[1:])
             if not torch.equal(before, after)]
    expected = list(range(module.warmup_steps, module.total_steps, 3))
    assert moved == expected and len(expected) == module.arch_steps
    assert trace.rows[-1][2] == pytest.approx(cfg.search.arch_optimizer.final_lr)
    assert trace.rows[expected[-1]][1] == pytest.approx(cfg.search.temperature.final)


def test_the_hardware_loss_ramps_in_over_the_first_architecture_steps(data):
    """A fixed fault: at the first architecture step the hardware gradient was 20-70x the CE gradient."""
    cfg, dm = data
    module = make_module(cfg, dm)
    ramp = module.ramp_steps
    assert ramp == round(cfg.search.hardware_loss.ramp_fraction * module.arch_steps) > 0
    weights = []
    for step in range(module.warmup_steps, module.warmup_steps + ramp + 2):
        module.step_count.fill_(step)
        weights.append(module.hardware_weight)
    assert weights[0] == pytest.approx(1 / ramp) and weights[ramp - 1:] == [1.0] * 3
    assert all(a < b for a, b in zip(weights[:ramp], weights[1:ramp]))


class SubnormalProbe(Callback):
    """Whether a float32 below 1.2e-38 survives arithmetic at each step."""

    def __init__(self):
        self.kept = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.kept.append(float(torch.tensor([1e-39]) * 1.5) != 0.0)


def test_subnormal_floats_are_flushed_while_a_search_fits_and_kept_after_it_ends_or_fails(data, tmp_path):
    """At tau ~ 0.05 subnormal samples made a CPU step 4.5x slower; flushing them only lasts the fit."""
    cfg, dm = data
    probe = SubnormalProbe()
    fit(make_module(cfg, dm), dm, tmp_path / "whole", callbacks=[probe])
    assert probe.kept and not any(probe.kept)
    assert float(torch.tensor([1e-39]) * 1.5) != 0.0
    with pytest.raises(Killed):
        fit(make_module(cfg, dm), dm, tmp_path / "killed", callbacks=[KillAtEpoch(1)])
    assert float(torch.tensor([1e-39]) * 1.5) != 0.0


class FillProbe(Callback):
    """Whether torch fills new tensors (with NaN, under deterministic algorithms) at each step."""

    def __init__(self):
        self.filled = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.filled.append(torch.utils.deterministic.fill_uninitialized_memory)


def test_a_deterministic_search_leaves_new_tensors_unfilled_while_it_fits_and_only_then(data, tmp_path):
    """The NaN fill cost a UCI-HAR step 8 %; the algorithms stay deterministic and the flag is restored."""
    cfg, dm = data
    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    probe, deterministic = FillProbe(), []
    try:
        for name, callbacks in (("whole", [probe]), ("killed", [KillAtEpoch(1)])):
            trainer = pl.Trainer(max_epochs=EPOCHS, logger=False, callbacks=callbacks, deterministic=True,
                                 enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                                 num_sanity_val_steps=0, enable_checkpointing=False)
            with pytest.raises(Killed) if name == "killed" else contextlib.nullcontext():
                trainer.fit(make_module(cfg, dm), dm.train_dataloader(), dm.val_dataloader())
            deterministic.append(torch.are_deterministic_algorithms_enabled())
            assert torch.utils.deterministic.fill_uninitialized_memory is True
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]
    assert probe.filled and not any(probe.filled)
    assert deterministic == [True, True]


def test_the_sharpening_weight_rises_from_zero_to_its_setting_over_the_architecture_steps(data):
    cfg, dm = copy.deepcopy(data[0]), data[1]
    cfg.search.sharpening = 0.5
    module = make_module(cfg, dm)
    weights = []
    for step in range(module.warmup_steps, module.total_steps):
        module.step_count.fill_(step)
        weights.append(module.sharpening_weight)
    assert weights[0] == pytest.approx(0.5 / module.arch_steps) and weights[-1] == pytest.approx(0.5)
    assert all(a < b for a, b in zip(weights, weights[1:]))
    assert make_module(cfg, dm, "darts").sharpening_weight == 0.0


def test_sharpening_concentrates_the_choice_distributions(data, tmp_path):
    """With a plain softmax(alpha) the argmax's cost can sit far from the expected cost the budget binds;
    the entropy term concentrates the distributions (entropy from torch.distributions as the oracle)."""
    cfg, dm = copy.deepcopy(data[0]), data[1]
    entropies = {}
    for sharpening in (0.0, 200.0):
        cfg.search.sharpening = sharpening
        pl.seed_everything(0)
        module = make_module(cfg, dm)
        with torch.no_grad():  # uniform choices are the entropy's flat maximum: start from a search's gaps
            for logits in module.arch_logits.parameters():
                logits.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(logits.numel()))
        fit(module, dm, tmp_path / str(sharpening))
        entropies[sharpening] = torch.stack([torch.distributions.Categorical(probs=p.detach()).entropy()
                                             for p in module.arch_logits.probabilities().values()]).mean()
    assert entropies[200.0] < 0.9 * entropies[0.0]


@pytest.mark.parametrize("override, sentence", [
    ("search.arch_every=0", "search.arch_every=0 is not valid; use an integer of at least 1."),
    ("search.temperature.schedule=linear",
     "search.temperature.schedule=linear is not a known schedule; valid options are: exponential, reference."),
    ("search.hardware_loss.mode=l2",
     "search.hardware_loss.mode=l2 is not a known mode; valid options are: asym_log, hinge."),
    ("search.sharpening=-1", "search.sharpening=-1 is not valid; it must be a number >= 0 (0: off)."),
    ("search.derivation=best", "search.derivation=best is not one of constrained, argmax."),
    ("search.costs_under=tau", "search.costs_under=tau is not one of sampled, sharpened, sample."),
    ("search.hardware_loss.at=mode", "search.hardware_loss.at=mode is not one of expected, derived."),
    ("search.warmup_fraction=1.5", "search.warmup_fraction=1.5 is not valid; it must be in [0, 1)."),
    ("search.latency_floor=1", "search.latency_floor=1 is not valid; it must be in [0, 1)."),
    ("search.latency_floor=high", "search.latency_floor=high is not valid; it must be in [0, 1)."),
])
def test_bad_search_settings_are_one_sentence(data, override, sentence):
    _, dm = data
    cfg = load_config("search", ["dataset=basicmotions", override])
    with pytest.raises(ConfigError) as error:
        make_module(cfg, dm)
    assert str(error.value) == sentence
