"""Derivation under the budgets against brute force over every architecture a few free decisions allow."""

import itertools
import math

import numpy as np
import pytest
import torch

from micronas.config import load_config
from micronas.cost.model import CostModel
from micronas.errors import ConfigError
from micronas.search import derive
from micronas.search.derive import derive_within_budgets
from micronas.search.summary import derivation_text
from micronas.space import Architecture, SearchSpace
from micronas.space.architecture import ArchitectureError

SPACE = SearchSpace(64, 6, 3)
FIXED = -60.0  # the logit of every option that the brute force does not visit
FREE = ("cell0.kernel", "cell0.width", "cell2.block_width", "cell2.branch3", "cell2.branch5", "cell2.branch7",
        "cell2.residual", "cell3.skip", "cell4.skip")  # cells: tr, tr, sf_reduce, sf, sf


@pytest.fixture(scope="module")
def l552():
    return CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)


@pytest.fixture(scope="module")
def setting(l552):
    """Random logits over the free decisions; every other decision has one option at 0, the rest at -60."""
    assert all(key in SPACE.logit_shapes() for key in FREE)
    rng = np.random.default_rng(7)
    logits, allowed = {}, {}
    for decision in SPACE.decisions:
        if decision.key in FREE:
            logits[decision.key] = torch.tensor(rng.normal(size=decision.ways) * 1.5)
            allowed[decision.key] = list(range(decision.ways))
        else:
            pick = int(rng.integers(decision.ways)) if decision.name != "skip" else 0
            logits[decision.key] = torch.full((decision.ways,), FIXED)
            logits[decision.key][pick] = 0.0
            allowed[decision.key] = [pick]
    return logits, allowed, _deployed_distribution(logits, allowed, l552)


def _deployed_distribution(logits, allowed, cost_model):
    """`{deployed ops: (probability, architecture, costs)}` by enumerating every raw combination of choices;
    a used cell with no branch deploys as its residual."""
    keys = [d.key for d in SPACE.decisions]
    log_p = {key: torch.log_softmax(logits[key].double(), 0) for key in keys}
    deployed = {}
    for combo in itertools.product(*(allowed[key] for key in keys)):
        cells = [{} for _ in SPACE.cells]
        for decision, index in zip(SPACE.decisions, combo):
            cells[decision.cell][decision.name] = decision.options[index]
        for plan, choices in zip(SPACE.cells, cells):
            if plan.type != "tr" and not choices.get("skip") and not any(choices[f"branch{k}"] for k in (3, 5, 7)):
                choices["residual"] = True
        data = {"input_shape": list(SPACE.input_shape), "num_classes": SPACE.num_classes,
                "cells": [{"type": plan.type, **choices} for plan, choices in zip(SPACE.cells, cells)]}
        try:
            arch = Architecture.from_dict(data)
        except ArchitectureError:
            continue
        probability = math.exp(sum(float(log_p[key][index]) for key, index in zip(keys, combo)))
        ops = tuple(op.key() for op in arch.ops())
        if ops not in deployed:
            deployed[ops] = [0.0, arch, cost_model.predict(arch)]
        deployed[ops][0] += probability
    return deployed


def _best(deployed, constraints):
    feasible = [(p, arch) for p, arch, costs in deployed.values() if all(costs.verdicts(constraints).values())]
    return max(feasible, key=lambda pair: pair[0])


def _budget(deployed, name, quantile):
    return float(np.quantile([costs.value(name) for _, _, costs in deployed.values()], quantile))


@pytest.mark.parametrize("budget", [
    {"latency": None},
    {"latency": ("latency", 0.3)},
    {"latency": ("latency", 0.05)},
    {"memory": ("memory", 0.2)},
    {"latency": ("latency", 0.5), "flash": ("flash", 0.3)},
])
def test_the_derived_network_is_the_most_probable_one_that_meets_the_budgets(setting, l552, budget):
    logits, _, deployed = setting
    constraints = {name: None if spec is None else _budget(deployed, *spec) for name, spec in budget.items()}
    derivation = derive_within_budgets(SPACE, logits, l552, constraints)
    probability, arch = _best(deployed, {k: v for k, v in constraints.items() if v is not None})
    assert tuple(op.key() for op in derivation.arch.ops()) == tuple(op.key() for op in arch.ops())
    assert math.exp(derivation.log_prob) == pytest.approx(probability, rel=1e-9)
    assert all(l552.predict(derivation.arch).verdicts(
        {k: v for k, v in constraints.items() if v is not None}).values())


@pytest.mark.parametrize("quantile, floor, extra", [
    (0.5, 0.85, {}),
    (0.9, 0.85, {}),
    (0.3, 0.6, {"flash": ("flash", 0.6)}),
    (0.7, 0.9, {"memory": ("memory", 0.9)}),
])
def test_under_a_latency_floor_the_derived_network_is_the_most_probable_one_in_the_band(
        setting, l552, quantile, floor, extra):
    logits, _, deployed = setting
    constraints = {"latency": _budget(deployed, "latency", quantile),
                   **{name: _budget(deployed, *spec) for name, spec in extra.items()}}
    derivation = derive_within_budgets(SPACE, logits, l552, constraints, latency_floor=floor)
    in_band = {ops: (p, arch, costs) for ops, (p, arch, costs) in deployed.items()
               if costs.latency_ms >= floor * constraints["latency"]}
    probability, arch = _best(in_band, constraints)
    assert tuple(op.key() for op in derivation.arch.ops()) == tuple(op.key() for op in arch.ops())
    assert math.exp(derivation.log_prob) == pytest.approx(probability, rel=1e-9)
    report = derivation.report(constraints)
    assert report["latency_floor"] == floor and report["latency_floor_met"] is True
    plain = derive_within_budgets(SPACE, logits, l552, constraints)
    assert plain.log_prob >= derivation.log_prob


def test_a_floor_no_network_reaches_falls_back_to_the_most_probable_one_within_the_budgets(
        setting, l552, monkeypatch):
    logits, _, deployed = setting
    constraints = {"latency": _budget(deployed, "latency", 0.5)}
    monkeypatch.setattr(derive, "FLOOR_EXPANSIONS", 5000)  # the search for the band gives up after these
    derivation = derive_within_budgets(SPACE, logits, l552, constraints, latency_floor=1.01)  # > the budget
    probability, arch = _best(deployed, constraints)
    assert tuple(op.key() for op in derivation.arch.ops()) == tuple(op.key() for op in arch.ops())
    assert derivation.report(constraints)["latency_floor_met"] is False
    flash = {"flash": _budget(deployed, "flash", 0.5)}
    no_latency_budget = derive_within_budgets(SPACE, logits, l552, flash, latency_floor=0.85)
    assert no_latency_budget.report(flash)["latency_floor"] == 0.0


def test_the_report_says_how_far_the_argmax_was_from_a_budget_it_breaks(setting, l552):
    logits, _, deployed = setting
    argmax = Architecture.derive(SPACE, logits)
    tight = 0.9 * l552.predict(argmax).latency_ms
    report = derive_within_budgets(SPACE, logits, l552, {"latency": tight}).report({"latency": tight})
    assert report["argmax_meets_budgets"] is False and not report["argmax_is_derived"]
    assert report["argmax_cost_over_budget"]["latency"] == pytest.approx(1 / 0.9)


def test_a_derivation_that_runs_out_of_expansions_says_so_instead_of_blaming_the_budget(setting, l552,
                                                                                         monkeypatch):
    logits, _, deployed = setting
    tight = _budget(deployed, "latency", 0.05)   # feasible: the brute force finds networks under it
    monkeypatch.setattr(derive, "MAX_EXPANSIONS", 3)
    with pytest.raises(ConfigError, match=r"gave up after 3 partial architectures without one that meets "
                                          r"latency <= .*; use search.derivation=argmax, or raise the budgets"):
        derive_within_budgets(SPACE, logits, l552, {"latency": tight})


@pytest.mark.parametrize("report, line", [
    ({"argmax_meets_budgets": True, "argmax_cost_over_budget": {"latency": 0.79}, "latency_floor": 0.85,
      "latency_floor_met": True},
     "argmax met the budgets (latency 79 % of budget); derived the most probable network within them that "
     "uses at least 85 % of the latency budget"),
    ({"argmax_meets_budgets": False, "argmax_cost_over_budget": {"latency": 1.2, "flash": 0.5},
      "latency_floor": 0.85, "latency_floor_met": False},
     "argmax broke the budgets (latency 120 %, flash 50 % of budget); derived the most probable network "
     "within them (none uses 85 % of the latency budget)"),
    ({"argmax_meets_budgets": False, "argmax_cost_over_budget": {"memory": 1.5}, "latency_floor": 0.0,
      "latency_floor_met": True},
     "argmax broke the budgets (memory 150 % of budget); derived the most probable network within them"),
])
def test_the_console_says_why_the_derived_network_is_not_the_argmax(report, line):
    assert derivation_text(report) == line
