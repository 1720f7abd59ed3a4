"""Differentiable expected costs of the relaxed supernet (docs/method.md §6.1-6.3) as torch functions.

`ExpectedCosts(space, cost_model)(probs)` maps choice probabilities (`{decision key: vector}`, the
layout of `SearchSpace.decisions`) to `{"latency": ms, "memory": bytes, "flash": bytes}`:

- latency: the exact expectation of the op-sum plus per-invoke overhead under independent decisions,
  with `w_out^T LAT w_in` for every dynamic conv, branch and residual weighting, `E[n_on] - P(n_on >= 1)`
  adds and skip weighting (docs/method.md §6.1);
- `peak_bytes`: the max over execution steps of `P_t * (expected live bytes + expected scratch)`
  (docs/method.md §6.2); memory is the arena map of docs/method.md §6.3,
  `kappa * peak + b0 + b_conv * E[n_conv] + b_add * E[n_add] + b_ch * E[sum C_out]` (the persistent tail
  is linear in these counts to within about 16 bytes), fitted by non-negative least squares on the exact
  arena emulator over 200 random architectures.
  It cannot see the greedy planner's fragmentation (the head exceeds the live-set peak by up to ~50 %
  on some architectures), so derivation reports the exact emulated arena, never this map;
- flash: the expectation of `FlashModel`, exact because flash is linear in the ops.

With one-hot probabilities, latency, peak and flash equal the discrete architecture's values (up to
float64 rounding); tests check this on random architectures. Everything is float64; the probabilities
may be float32 and keep their gradients. The tables follow the probabilities' device (CPU or GPU).
"""

from dataclasses import dataclass, fields, replace
from math import prod

import numpy as np
import torch
from scipy.optimize import nnls

from micronas.cost.flash import BYTES_PER_CHANNEL
from micronas.cost.graph import op_graph
from micronas.cost.memory import estimate_arena
from micronas.cost.model import CostModel
from micronas.space.architecture import Architecture, residual_runs
from micronas.space.cells import (
    ConvSite,
    has_adds,
    conv_sites,
    head_ops,
    options,
    output_widths,
    site_op,
    site_widths,
    switch_probability,
)
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import DECISIONS, CellPlan, SearchSpace

DTYPE = torch.float64
ARENA_FIT_ARCHITECTURES = 200


@dataclass
class SiteCosts:
    """One conv site (`micronas.space.cells`): latency `lat[i, j]`, flash and scratch per (output width i,
    input width j)."""

    lat: torch.Tensor
    flash: torch.Tensor
    scratch: torch.Tensor  # per input width (scratch depends on C_in and the kernel only)


class ExpectedCosts:
    """Expected latency (ms), arena (bytes) and flash (bytes) of `space` under relaxed probabilities."""

    def __init__(self, space: SearchSpace, cost_model: CostModel):
        self.space, self.cost_model = space, cost_model
        self.device = torch.device("cpu")
        self.build = cost_model.build
        self.flash_model = cost_model.flash
        self.cell_sites = [conv_sites(plan) for plan in space.cells]
        self.sites: list[dict[str, SiteCosts]] = []
        self.in_widths: list[tuple[int, ...]] = []
        widths: tuple[int, ...] = (1,)
        for plan, cell_sites in zip(space.cells, self.cell_sites):
            self.in_widths.append(widths)
            self.sites.append({site.name: self._site(plan, site, widths) for site in cell_sites})
            widths = output_widths(plan)
        self.head_widths = self._vector(widths)
        head = [head_ops(space, c)[0] for c in widths]
        self.head_lat = self._vector([cost_model.latency_ms(op) for op in head])
        self.head_flash = self._vector([self._op_flash(op) for op in head])
        self.head_scratch = self._vector([sum(self.build.scratch_buffers(op)) for op in head])
        mean, softmax = head_ops(space, widths[0])[1:]
        self.tail_lat = (
            cost_model.latency_ms(mean) + cost_model.latency_ms(softmax) + cost_model.invoke_overhead_ms
        )
        self.mean_scratch = sum(self.build.scratch_buffers(mean))
        self.add_lat = {}
        for plan in filter(has_adds, space.cells):
            hw = plan.output_hw
            self.add_lat[hw] = self._vector(
                [cost_model.latency_ms(OpSpec("add", (*hw, c), (*hw, c))) for c in output_widths(plan)]
            )
        self.in_width_vectors = [self._vector(widths) for widths in self.in_widths]
        self.width_vectors = [
            {site.width: self._vector(options(plan, site.width)) for site in cell_sites}
            for plan, cell_sites in zip(space.cells, self.cell_sites)
        ]
        self.arena_coefficients = self._fit_arena_map()

    def _move_to(self, device: torch.device) -> None:
        """Move every table to `device` (once, when probabilities first arrive there)."""
        def moved(value):
            if isinstance(value, torch.Tensor):
                return value.to(device)
            if isinstance(value, SiteCosts):
                return replace(value, **{f.name: moved(getattr(value, f.name)) for f in fields(value)})
            if isinstance(value, dict):
                return {key: moved(item) for key, item in value.items()}
            if isinstance(value, list):
                return [moved(item) for item in value]
            return value

        for name in ("sites", "in_width_vectors", "width_vectors", "head_widths", "head_lat", "head_flash",
                     "head_scratch", "add_lat"):
            setattr(self, name, moved(getattr(self, name)))
        self.device = device

    # ---- construction -----------------------------------------------------------------------------

    @staticmethod
    def _vector(values) -> torch.Tensor:
        return torch.tensor(values, dtype=DTYPE)

    def _op_flash(self, op: OpSpec) -> float:
        return op.weight_count + BYTES_PER_CHANNEL * op.output_shape[-1] + self.flash_model.per_conv_bytes

    def _site(self, plan: CellPlan, site: ConvSite, in_widths: tuple[int, ...]) -> SiteCosts:
        reads, writes = site_widths(plan, site, in_widths)
        ops = [[site_op(plan, site, i, o) for i in reads] for o in writes]
        return SiteCosts(
            lat=self._vector([[self.cost_model.latency_ms(op) for op in row] for row in ops]),
            flash=self._vector([[self._op_flash(op) for op in row] for row in ops]),
            scratch=self._vector([sum(self.build.scratch_buffers(op)) for op in ops[0]]),
        )

    # ---- expectations -----------------------------------------------------------------------------

    def _walk(self, probs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Latency, flash, expected op and channel counts, and the per-step memory terms."""
        p = {key: value.to(DTYPE) for key, value in probs.items()}
        device = next(iter(p.values())).device
        if device != self.device:
            self._move_to(device)
        zero = torch.zeros((), dtype=DTYPE, device=device)
        latency, flash, convs, adds, channels = zero, zero, zero, zero, zero
        steps = []  # M_t of every step
        x = torch.ones(1, dtype=DTYPE, device=device)  # input width distribution: one channel
        cells = zip(self.space.cells, self.cell_sites, self.sites, self.in_width_vectors, self.width_vectors)
        for plan, cell_sites, sites, in_widths, width_vectors in cells:
            choices = {name: p[f"cell{plan.index}.{name}"] for name, _ in DECISIONS[plan.type]}
            (h_in, w_in), (h_out, w_out) = plan.input_hw, plan.output_hw
            x_bytes = h_in * w_in * (x @ in_widths)
            if plan.type == "tr":
                width, widths = choices["width"], width_vectors["width"]
                scratch = zero
                for site in cell_sites:
                    p_site, costs = switch_probability(plan, site, choices), sites[site.name]
                    latency = latency + p_site * (width @ costs.lat @ x)
                    flash = flash + p_site * (width @ costs.flash @ x)
                    scratch = scratch + p_site * (costs.scratch @ x)
                # Exactly one kernel runs: one step, X + Y + E[scratch] (docs/method.md §6.2).
                steps.append(x_bytes + h_out * w_out * (width @ widths) + scratch)
                convs = convs + 1
                channels = channels + width @ widths
                x = width
                continue
            _, *branch_sites, _ = cell_sites
            bottleneck, *branches, residual = (sites[site.name] for site in cell_sites)
            b, u = choices["bottleneck_width"], choices["block_width"]
            q = [switch_probability(plan, site, choices) for site in branch_sites]
            s = choices["skip"][0] if plan.type == "sf" else torch.ones((), dtype=DTYPE, device=device)
            a = 1 - prod(1 - qk for qk in q)
            r = choices["residual"][1]  # the residual is chosen, and (when a branch is on) added
            r_conv = residual_runs(r, a)  # the residual conv runs: chosen, or no branch is on
            b_widths, u_widths = width_vectors["bottleneck_width"], width_vectors["block_width"]
            b_bytes, y_bytes = h_out * w_out * (b @ b_widths), h_out * w_out * (u @ u_widths)
            add = u @ self.add_lat[(h_out, w_out)]
            n_adds = sum(q) - a + r * a
            cell_latency = a * (b @ bottleneck.lat @ x) + r_conv * (u @ residual.lat @ x) + n_adds * add
            cell_flash = a * (b @ bottleneck.flash @ x) + r_conv * (u @ residual.flash @ x)
            cell_flash = cell_flash + n_adds * self.flash_model.per_add_bytes
            for branch, qk in zip(branches, q):
                cell_latency = cell_latency + qk * (u @ branch.lat @ b)
                cell_flash = cell_flash + qk * (u @ branch.flash @ b)
            # Memory steps (docs/method.md §6.2 table), each weighted by the probability that it runs.
            earlier = [1 - prod(1 - qj for qj in q[:i]) for i in range(len(q))]
            later = [1 - prod(1 - qj for qj in q[i + 1 :]) for i in range(len(q))]
            cell_steps = [a * (x_bytes + b_bytes + bottleneck.scratch @ x)]
            for i, branch in enumerate(branches):
                live = r * x_bytes + b_bytes + earlier[i] * y_bytes + y_bytes
                cell_steps.append(q[i] * (live + branch.scratch @ b))
                cell_steps.append(q[i] * earlier[i] * (r * x_bytes + later[i] * b_bytes + 3 * y_bytes))
            cell_steps.append(r_conv * (x_bytes + y_bytes + residual.scratch @ x) + r * a * y_bytes)
            cell_steps.append(r * a * 3 * y_bytes)
            steps += [s * m for m in cell_steps]
            latency = latency + s * cell_latency
            flash = flash + s * cell_flash
            convs = convs + s * (a + sum(q) + r_conv)
            adds = adds + s * n_adds
            channels = channels + s * (a * (b @ b_widths) + (sum(q) + r_conv) * (u @ u_widths))
            x = s * u + (1 - s) * x if plan.type == "sf" else u
        (h, w), n = self.space.head_hw, self.space.num_classes
        head_in = h * w * (x @ self.head_widths)
        steps.append(head_in + h * w * n + self.head_scratch @ x)
        steps.append(torch.tensor(h * w * n + n + self.mean_scratch, dtype=DTYPE, device=device))
        steps.append(torch.tensor(2 * n, dtype=DTYPE, device=device))
        latency = latency + self.head_lat @ x + self.tail_lat
        flash = flash + self.head_flash @ x + self.flash_model.fixed_bytes
        return {
            "latency": latency,
            "flash": flash,
            "peak": torch.stack(steps).max(),
            "convs": convs + 1,
            "adds": adds,
            "channels": channels + n,
        }

    def __call__(self, probs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`{"latency": ms, "memory": arena bytes, "flash": bytes, "peak": live-set peak bytes}`."""
        terms = self._walk(probs)
        kappa, b0, b_conv, b_add, b_ch = self.arena_coefficients
        memory = (
            kappa * terms["peak"]
            + b0
            + b_conv * terms["convs"]
            + b_add * terms["adds"]
            + b_ch * terms["channels"]
        )
        return {"latency": terms["latency"], "memory": memory, "flash": terms["flash"], "peak": terms["peak"]}

    # ---- arena map (docs/method.md §6.3) -------------------------------------------------------------------

    def _fit_arena_map(self) -> tuple[float, ...]:
        """Non-negative least squares of the emulated arena on (peak, 1, n_conv, n_add, sum C_out) over
        random architectures (non-negative, so that no term rewards adding ops)."""
        rng = np.random.default_rng(0)
        rows, arenas = [], []
        for _ in range(ARENA_FIT_ARCHITECTURES):
            arch = Architecture.random(self.space, rng)
            graph = op_graph(arch)
            estimate = estimate_arena(graph, self.build)
            ops = arch.ops()
            channels = sum(op.output_shape[-1] for op in ops if op.kind == "conv2d")
            kinds = [op.kind for op in ops]
            rows.append([estimate.peak_bytes, 1.0, kinds.count("conv2d"), kinds.count("add"), channels])
            arenas.append(estimate.arena_bytes)
        solution, _ = nnls(np.array(rows, dtype=float), np.array(arenas, dtype=float))
        return tuple(float(v) for v in solution)
