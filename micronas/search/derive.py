"""Derivation under the budgets: the most probable architecture whose exact predicted costs meet them all.

With a latency floor `f` (`search.latency_floor`), the most probable architecture whose latency also
reaches `f x` the latency budget comes first; only when none exists is the floor dropped. The supernet's
cross-entropy prefers small networks at generous budgets, and the retrained networks disagree
(docs/search.md, "Using the budget").

The search ends with one choice distribution `softmax(alpha)` per decision. An architecture's
log-probability is the sum over its cells of the log-probability of the cell it deploys: a skipped cell
is `log P(skip)`; a used cell is the sum over its decisions, except that a cell with no branch deploys
as its residual whatever the residual and bottleneck decisions say, so those two are marginalised out.

The search is best-first (A*) over the cells, with the channel width as the state that links them. A
partial architecture is scored by its log-probability plus the most any completion from its width can
add (a backward dynamic programme, so the score never underestimates). It is dropped when its latency
or flash plus the cheapest completion's, or its live-set peak (no arena is below the peak), breaks a
budget. Within a cell, an option is dropped when another with the same output width is as probable and
costs no more in every constrained measure. The first complete architecture popped whose exact costs
(`CostModel.predict`, with the planned arena) meet every budget is the answer: no architecture that
meets the budgets is more probable. For latency and flash this is exact; the arena is pruned through
its live-set peak, because a greedy plan's arena is not a sum or maximum over cells. When that answer
is below a latency floor, a second search looks in the band: a partial architecture is also dropped
when even its dearest completion stays below the floor, and an option dominates another only at equal
latency.
"""

import heapq
import itertools
import operator
from dataclasses import dataclass, replace

import torch

from micronas.budgets import FIELDS
from micronas.cost.extremes import CellScorer, out_channels
from micronas.cost.model import ArchitectureCosts, CostModel
from micronas.errors import ConfigError
from micronas.space.architecture import Architecture, SFCell, TRCell
from micronas.space.cells import options, sf_sites
from micronas.space.searchspace import DECISIONS, CellPlan, SearchSpace

PRUNING_METRIC = {"latency": "latency", "flash": "flash", "memory": "peak"}
MAX_EXPANSIONS = 2_000_000
FLOOR_EXPANSIONS = 20_000  # then the floor is given up: the search below it still finds the answer


@dataclass(frozen=True)
class Derivation:
    """The derived architecture, its log-probability, and the plain argmax it was chosen instead of."""

    arch: Architecture
    log_prob: float
    argmax: Architecture
    argmax_log_prob: float
    argmax_costs: ArchitectureCosts
    expanded: int
    latency_floor: float = 0.0  # share of the latency budget the derived network had to reach (0: none)
    floor_met: bool | None = None  # whether one did (else: the most probable within budgets); None: no floor

    def report(self, constraints: dict) -> dict:
        """JSON-able: how far the argmax was from the budgets, and what choosing within them cost."""
        budgets = {name: float(limit) for name, limit in constraints.items() if limit is not None}
        verdicts = self.argmax_costs.verdicts(budgets)
        return {
            "argmax_meets_budgets": all(verdicts.values()),
            "argmax_cost_over_budget": {name: self.argmax_costs.value(name) / limit
                                        for name, limit in budgets.items()},
            "argmax_is_derived": self.arch == self.argmax,
            "latency_floor": self.latency_floor,
            "latency_floor_met": self.floor_met,
            "log_prob": self.log_prob,
            "argmax_log_prob": self.argmax_log_prob,
            "nodes_expanded": self.expanded,
        }


@dataclass(frozen=True)
class _Option:
    cell: object
    log_prob: float
    out_channels: int
    costs: tuple[float, ...]  # one per constrained measure, in its pruning metric's units


def _log_probabilities(logits: dict) -> dict[str, list[float]]:
    return {key: torch.log_softmax(torch.as_tensor(value).detach().double().reshape(-1), 0).tolist()
            for key, value in logits.items()}


def _cells(plan: CellPlan, lp: dict[str, list[float]], argmax: object):
    """Every deployable cell of `plan` once, with its log-probability."""
    key = f"cell{plan.index}."
    if plan.type == "tr":
        decisions = DECISIONS["tr"]
        for picks in itertools.product(*(enumerate(values) for _, values in decisions)):
            choices = {name: value for (name, _), (_, value) in zip(decisions, picks)}
            yield TRCell(**choices), sum(lp[key + name][i] for (name, _), (i, _) in zip(decisions, picks))
        return
    reducing, used = plan.type == "sf_reduce", 0.0
    if not reducing:
        used = lp[key + "skip"][0]
        yield replace(argmax, skip=True), lp[key + "skip"][1]
    _, *branch_sites, _ = sf_sites(plan)
    branch_names = [site.switch[0] for site in branch_sites]
    branch_lp = [lp[key + name] for name in branch_names]
    bottlenecks = options(plan, "bottleneck_width")
    for u, block in enumerate(options(plan, "block_width")):
        base = used + lp[key + "block_width"][u]
        off = sum(option[0] for option in branch_lp)
        nothing_on = dict.fromkeys(branch_names, False)
        yield SFCell(reducing, argmax.bottleneck_width, block, **nothing_on, residual=True), base + off
        for on in itertools.product((0, 1), repeat=len(branch_names)):
            if not any(on):
                continue
            branches = base + sum(option[state] for option, state in zip(branch_lp, on))
            branches_on = dict(zip(branch_names, map(bool, on)))
            for (b, bottleneck), residual in itertools.product(enumerate(bottlenecks), (0, 1)):
                cell = SFCell(reducing, bottleneck, block, **branches_on, residual=bool(residual))
                yield cell, branches + lp[key + "bottleneck_width"][b] + lp[key + "residual"][residual]


def _apply(join, a: float, b: float) -> float:
    return join(a, b)


def _undominated(options: list[_Option], floored: int | None = None) -> list[_Option]:
    """Per output width, the options that no more probable option beats or equals in every cost (in cost
    `floored`, which has a floor as well as a budget, only an equal cost dominates)."""
    def group(option: _Option) -> tuple:
        return (option.out_channels,) if floored is None else (option.out_channels, option.costs[floored])

    kept, rivals = [], {}  # rivals: the kept options of each group
    for option in sorted(options, key=lambda o: -o.log_prob):
        group_kept = rivals.setdefault(group(option), [])
        if not any(all(a <= b for a, b in zip(k.costs, option.costs)) for k in group_kept):
            group_kept.append(option)
            kept.append(option)
    return kept


class _Tables:
    """Cell options per (cell, input width), the best completion log-probability, and the cheapest and
    dearest completions (dearest: for the floored cost, `floored`, only); `steps` lists, per (cell, input
    width), each option with the cheapest costs and the dearest floored cost of finishing through it.
    `scored` caches every cell's options with their costs, to share between tables."""

    def __init__(self, space: SearchSpace, logits: dict, scorers: list[CellScorer], argmax: Architecture,
                 floored: int | None = None, scored: dict | None = None):
        self.space, self.scorers, self.argmax, self.floored = space, scorers, argmax, floored
        self.scored = {} if scored is None else scored
        self.lp = _log_probabilities(logits)
        self.combine = [max if s.metric == "peak" else operator.add for s in scorers]
        self.options: list[dict[int, list[_Option]]] = [{} for _ in space.cells]
        widths = {1}
        for index, plan in enumerate(space.cells):
            for channels in widths:
                self.options[index][channels] = self._options(plan, channels)
            widths = {o.out_channels for channels in widths for o in self.options[index][channels]}
        n = len(space.cells)
        self.best = [dict() for _ in range(n + 1)]
        self.cheapest = [dict() for _ in range(n + 1)]
        self.dearest = [dict() for _ in range(n + 1)]
        self.best[n] = {c: 0.0 for c in widths}
        self.cheapest[n] = {c: tuple(s.head_cost(c) for s in scorers) for c in widths}
        if floored is not None:
            self.dearest[n] = {c: costs[floored] for c, costs in self.cheapest[n].items()}
        for index in reversed(range(n)):
            for channels, options in self.options[index].items():
                self.best[index][channels] = max(o.log_prob + self.best[index + 1][o.out_channels] for o in options)
                self.cheapest[index][channels] = tuple(
                    min(join(o.costs[m], self.cheapest[index + 1][o.out_channels][m]) for o in options)
                    for m, join in enumerate(self.combine)
                )
                if floored is not None:
                    self.dearest[index][channels] = max(
                        o.costs[floored] + self.dearest[index + 1][o.out_channels] for o in options)

        def dearest(index: int, o: _Option) -> float:
            return o.costs[floored] + self.dearest[index + 1][o.out_channels] if floored is not None else 0.0

        self.steps = [
            {channels: [(o, self.joined(o.costs, self.cheapest[index + 1][o.out_channels]), dearest(index, o))
                        for o in options]
             for channels, options in self.options[index].items()}
            for index in range(n)
        ]

    def _options(self, plan: CellPlan, channels: int) -> list[_Option]:
        if (plan.index, channels) not in self.scored:
            self.scored[plan.index, channels] = [
                _Option(cell, log_prob, out_channels(cell, channels),
                        tuple(s.cell(plan, cell, channels) for s in self.scorers))
                for cell, log_prob in _cells(plan, self.lp, self.argmax.cells[plan.index])
            ]
        return _undominated(self.scored[plan.index, channels], self.floored)

    def joined(self, costs: tuple, more: tuple) -> tuple:
        return tuple(map(_apply, self.combine, costs, more))


def derive_within_budgets(space: SearchSpace, logits: dict, cost_model: CostModel, constraints: dict,
                          latency_floor: float = 0.0) -> Derivation:
    """The most probable architecture under `softmax(logits)` whose exact costs meet `constraints`
    (config units: latency ms, memory and flash kB; None = unconstrained) and, if one does, whose latency
    reaches `latency_floor` x the latency budget."""
    budgets = {name: float(limit) * FIELDS[name][1] for name, limit in constraints.items() if limit is not None}
    names = list(budgets)
    floored = names.index("latency") if latency_floor and "latency" in budgets else None
    scorers = [CellScorer(space, cost_model, PRUNING_METRIC[name]) for name in names]
    argmax = Architecture.derive(space, logits)
    limits = tuple(budgets[name] for name in names)
    exact_limits = {name: float(constraints[name]) for name in names}
    tables = _Tables(space, logits, scorers, argmax)
    search = _BestFirst(tables, cost_model, limits, exact_limits)
    found = search.run(MAX_EXPANSIONS)
    if found is None:
        limits_text = ", ".join(f"{name} <= {constraints[name]:g}" for name in names)
        if search.gave_up:
            raise ConfigError(f"the constrained derivation gave up after {MAX_EXPANSIONS} partial "
                              f"architectures without one that meets {limits_text} on {cost_model.name}; use "
                              "search.derivation=argmax, or raise the budgets.")
        raise ConfigError(f"no architecture of the search space meets {limits_text} on {cost_model.name} "
                          f"(searched {search.expanded} partial architectures); raise the budgets.")
    floor_met, expanded = None, search.expanded  # floor_met: None without a floor
    if floored is not None:
        floor = latency_floor * budgets["latency"]
        floor_met = cost_model.predict(found[0]).latency_ms >= floor  # then it is also the band's best
        if not floor_met:
            band_tables = _Tables(space, logits, scorers, argmax, floored, tables.scored)
            band = _BestFirst(band_tables, cost_model, limits, exact_limits)
            in_band = band.run(FLOOR_EXPANSIONS, floored, floor)
            expanded += band.expanded
            if in_band is not None:
                found, floor_met = in_band, True
    arch, log_prob = found
    return Derivation(arch, log_prob, argmax, _log_prob(tables, argmax), cost_model.predict(argmax),
                      expanded, latency_floor if floored is not None else 0.0, floor_met)


class _BestFirst:
    """Best-first search over the cells for the most probable architecture within the limits."""

    def __init__(self, tables: _Tables, cost_model: CostModel, limits: tuple, exact_limits: dict):
        self.tables, self.cost_model = tables, cost_model
        self.limits, self.exact_limits = limits, exact_limits
        self.expanded, self.gave_up = 0, False  # over every run; whether the last one hit its cap

    def run(self, cap: int, floored: int | None = None,
            floor: float = 0.0) -> tuple[Architecture, float] | None:
        """(architecture, log-probability) of the most probable within the limits that reaches `floor` in
        cost `floored` (if given), or None when there is none or `cap` partial architectures were expanded
        without one."""
        tables, space = self.tables, self.tables.space
        n, counter, expanded = len(space.cells), itertools.count(), 0
        limits, least = tuple(limit * (1 + 1e-12) for limit in self.limits), floor * (1 - 1e-12)
        heap = [(-tables.best[0][1], next(counter), 0, 1, 0.0, tuple(0.0 for _ in self.limits), ())]
        self.gave_up = False
        while heap:
            _, _, index, channels, log_prob, costs, cells = heapq.heappop(heap)
            expanded += 1
            self.expanded += 1
            if expanded > cap:
                self.gave_up = True
                return None
            if index == n:
                arch = Architecture(space.input_shape, space.num_classes, cells)
                predicted = self.cost_model.predict(arch)
                if all(predicted.verdicts(self.exact_limits).values()) and (
                        floored is None or predicted.latency_ms >= floor):
                    return arch, log_prob
                continue
            for option, cheapest, dearest in tables.steps[index][channels]:
                if any(map(operator.gt, tables.joined(costs, cheapest), limits)):
                    continue
                if floored is not None and costs[floored] + dearest < least:
                    continue
                total = tables.joined(costs, option.costs)
                score = log_prob + option.log_prob
                heapq.heappush(heap, (-(score + tables.best[index + 1][option.out_channels]), next(counter),
                                      index + 1, option.out_channels, score, total, cells + (option.cell,)))
        return None


def _log_prob(tables: _Tables, arch: Architecture) -> float:
    """The log-probability of a deployable architecture under the tables' distribution."""
    return sum(
        dict(_cells(plan, tables.lp, tables.argmax.cells[plan.index]))[cell]
        for plan, cell in zip(tables.space.cells, arch.cells)
    )
