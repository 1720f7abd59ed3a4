"""Random search and the DARTS config on real bundled data and the committed nucleo_l552 cost model."""

import json
import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from omegaconf import OmegaConf

from micronas.config import load_config
from micronas.cost.model import CostModel
from micronas.data import make_datamodule
from micronas.errors import ConfigError
from micronas.search import random_search as random_search_module
from micronas.search.random_search import Candidate, random_search
from micronas.search.settings import RandomSearch
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace

BRIEF = ["search=random", "search.candidates=3", "search.epochs=2", "search.patience=2"]
# Below the median random latency and arena of the 100x6 space on the L552: many draws are rejected.
BUDGETS = {"latency": 60.0, "memory": 16.0, "flash": None}


@pytest.fixture(scope="module")
def setting():
    cfg = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552", *BRIEF])
    dm = make_datamodule(cfg)
    dm.setup()
    return cfg, dm, SearchSpace(*dm.input_shape, dm.num_classes), CostModel.from_mcu(cfg.mcu)


def search(setting, seed=0, constraints=BUDGETS, done=(), search_cfg=None):
    cfg, dm, space, cost_model = setting
    calls = []
    settings = RandomSearch.from_config(search_cfg or cfg.search)
    result = random_search(space, cost_model, constraints, dm, settings, seed,
                           on_candidate=lambda index, candidate: calls.append(index), done=list(done))
    return result, calls


@pytest.fixture(scope="module")
def first_run(setting):
    return search(setting)


def records(result):
    return [candidate.to_dict() for candidate in result.candidates]


def test_every_candidate_meets_the_budgets_and_the_best_leads_on_arch_val(setting, first_run):
    _, _, _, cost_model = setting
    result, calls = first_run
    assert sorted(calls) == [0, 1, 2]
    assert len({candidate.arch for candidate in result.candidates}) == 3
    assert result.infeasible > 0, "the budgets should reject some draws"
    for candidate in result.candidates:
        assert cost_model.predict(candidate.arch).verdicts(BUDGETS) == {"latency": True, "memory": True}
        assert 0.0 <= candidate.val_accuracy <= 1.0 and 0.0 <= candidate.test_accuracy <= 1.0
        assert 0 <= candidate.best_epoch < 2
    best = result.best
    assert result.arch == best.arch
    for other in result.candidates:
        assert (other.val_accuracy, other.val_macro_f1) <= (best.val_accuracy, best.val_macro_f1)


def test_candidate_records_survive_json(first_run):
    result, _ = first_run
    for record in records(result):
        assert Candidate.from_dict(json.loads(json.dumps(record))).to_dict() == record


def test_the_same_seed_gives_the_same_search(setting, first_run):
    again, _ = search(setting)
    assert records(again) == records(first_run[0])
    assert again.draws == first_run[0].draws


def test_one_worker_selects_what_several_select(setting, first_run):
    cfg, *_ = setting
    assert cfg.search.workers == "auto"
    one = OmegaConf.merge(cfg.search, {"workers": 1})
    sequential, calls = search(setting, search_cfg=one)
    assert calls == [0, 1, 2], "one worker trains in draw order"
    assert records(sequential) == records(first_run[0])


def test_a_resumed_search_reuses_the_trained_candidates_and_ends_the_same(setting, first_run):
    full, _ = first_run
    done = json.loads(json.dumps(records(full)[:2]))
    resumed, calls = search(setting, done=done)
    assert calls == [2], "only the candidate missing from `done` is trained"
    assert records(resumed) == records(full)
    assert resumed.best == full.best


def test_records_of_another_seed_are_refused(setting, first_run):
    with pytest.raises(ConfigError, match=r"^the saved random-search candidate 0 is not draw \d+ of seed 1; "):
        search(setting, seed=1, done=records(first_run[0])[:1])


def test_an_infeasible_budget_is_one_sentence_with_the_lowest_figure_drawn(setting):
    cfg, _, space, cost_model = setting
    search_cfg = OmegaConf.merge(cfg.search, {"max_draws": 40})
    rng = np.random.default_rng(0)
    lowest = min(cost_model.predict(Architecture.random(space, rng)).latency_ms for _ in range(40))
    with pytest.raises(ConfigError) as error:
        search(setting, constraints={"latency": 1.0, "memory": None}, search_cfg=search_cfg)
    assert str(error.value) == (
        f"none of 40 random architectures meets the budgets latency <= 1 ms on nucleo_l552 (the lowest "
        f"figures drawn are latency {lowest:.4g} ms); raise the budgets or search.max_draws."
    )


@pytest.mark.parametrize("override, sentence", [
    ("search.candidates=0", "search.candidates=0 is not valid; use an integer of at least 1."),
    ("search.lr=-1", "search.lr=-1 is not valid; it must be a positive learning rate such as 1e-3."),
    ("search.workers=0", "search.workers=0 is not valid; it must be auto or a positive integer."),
])
def test_bad_settings_are_refused_before_any_draw(setting, override, sentence):
    cfg = load_config("search", ["dataset=basicmotions", *BRIEF, override])
    with pytest.raises(ConfigError) as error:
        search(setting, search_cfg=cfg.search)
    assert str(error.value) == sentence


def test_the_random_config_asks_for_twenty_candidates():
    cfg = load_config("search", ["search=random"])
    assert (cfg.search.method, cfg.search.candidates) == ("random", 20)
    assert cfg.search.max_draws >= cfg.search.candidates


def test_the_darts_config_is_dnas_with_plain_softmax():
    darts = OmegaConf.to_container(load_config("search", ["search=darts"]).search)
    dnas = OmegaConf.to_container(load_config("search", ["search=dnas"]).search)
    assert (darts.pop("method"), dnas.pop("method")) == ("darts", "dnas")
    assert (darts.pop("derivation"), dnas.pop("derivation")) == ("argmax", "constrained")
    assert darts == dnas
    assert load_config("search", ["search=darts", "search.epochs=3"]).search.epochs == 3


def test_selection_breaks_accuracy_ties_by_arch_val_loss_and_never_reads_test(first_run):
    """A fixed fault: ties went to the lower latency; a test score must never decide."""
    base = first_run[0].candidates[0]
    cheap_but_worse = replace(base, index=0, val_accuracy=0.9, val_macro_f1=0.9, val_loss=0.5, test_accuracy=1.0,
                              costs=replace(base.costs, latency_ms=1.0))
    better_loss = replace(base, index=1, val_accuracy=0.9, val_macro_f1=0.9, val_loss=0.4, test_accuracy=0.0,
                          costs=replace(base.costs, latency_ms=99.0))
    assert max([cheap_but_worse, better_loss], key=Candidate.rank) is better_loss


def _future_warning_shown() -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn("a library's future change", FutureWarning)
    return bool(caught)


@pytest.mark.parametrize("hidden", [True, False])
def test_a_candidate_worker_hides_library_warnings_as_its_parent_console_does(hidden):
    """Spawned workers do not inherit warning filters: a quiet console printed a Lightning deprecation
    line per candidate."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=random_search_module._start_worker,
                             initargs=(None, hidden)) as pool:
        assert pool.submit(_future_warning_shown).result() is not hidden
