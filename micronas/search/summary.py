"""What a finished search reports: `summary.json` content, the budget verdicts, and the console table."""

from micronas.budgets import INSTRUCTIONS, latency_unit, units
from micronas.cost.model import ArchitectureCosts
from micronas.space.architecture import Architecture


def constraint_report(costs: ArchitectureCosts, constraints: dict, latency: str = "ms") -> dict[str, dict]:
    """`{budget: {budget, unit, predicted, met}}` for every non-null budget (latency in `latency` units,
    ms or M instructions; memory/flash kB)."""
    verdicts = costs.verdicts(constraints)
    unit = units(latency)
    return {
        name: {"budget": float(limit), "unit": unit[name], "predicted": costs.value(name),
               "met": verdicts[name]}
        for name, limit in constraints.items()
        if limit is not None
    }


def build_summary(cfg, arch: Architecture, costs: ArchitectureCosts, validation: dict,
                  cheapest: dict[str, float], protocol: str, wall_time_s: float, runs: int,
                  run_id: str) -> dict:
    """The JSON-able record of one search (written as `summary.json` and logged to MLflow).

    `validation` holds the arch-val `accuracy`, `macro_f1` and number of `windows` of the found network,
    `search`, the length of the search (steps, epochs; candidates for random search), and for DNAS and
    DARTS `derivation`, how the network was derived and how far the plain argmax was from the budgets.
    `wall_time_s` sums the `runs` that worked on the search (a resumed search has more than one).
    """
    unit = latency_unit(cfg.mcu)
    constraints = constraint_report(costs, dict(cfg.constraints), unit)
    return {
        "stage": "search",
        "dataset": cfg.dataset.name,
        "protocol": protocol,
        "mcu": cfg.mcu.name,
        "method": cfg.search.method,
        "seed": int(cfg.seed),
        "architecture": arch.to_dict(),
        "predicted": costs.summary(unit),
        "constraints": constraints,
        "constraints_met": all(c["met"] for c in constraints.values()),
        "search": validation["search"],
        "derivation": validation.get("derivation"),
        "cheapest_in_space": cheapest,
        "validation": {key: validation[key] for key in ("accuracy", "macro_f1", "windows")},
        "wall_time_s": wall_time_s,
        "runs": runs,
        "mlflow_run_id": run_id,
    }


def violations(summary: dict) -> list[str]:
    """One sentence per budget the derived architecture breaks (empty when all are met)."""
    return [
        f"the derived architecture breaks constraints.{name}={c['budget']:g} {c['unit']}: "
        f"predicted {c['predicted']:.4g} {c['unit']}"
        for name, c in summary["constraints"].items()
        if not c["met"]
    ]


def latency_text(value: float, unit: str) -> str:
    """A latency figure with its unit; a QEMU count says that it is no board's time."""
    if unit == INSTRUCTIONS:
        return f"{value:.3f} {unit} (QEMU's instruction count, not a board's time)"
    return f"{value:.3f} {unit}"


def derivation_text(derivation: dict) -> str:
    """Why the derived network is not the plain argmax (a constrained derivation's report)."""
    shares = ", ".join(f"{name} {100 * ratio:.0f} %"
                       for name, ratio in derivation["argmax_cost_over_budget"].items())
    verdict = "met" if derivation["argmax_meets_budgets"] else "broke"
    floor = 100 * (derivation.get("latency_floor") or 0.0)
    if not floor:
        within = "within them"
    elif derivation.get("latency_floor_met"):
        within = f"within them that uses at least {floor:.0f} % of the latency budget"
    else:
        within = f"within them (none uses {floor:.0f} % of the latency budget)"
    return f"argmax {verdict} the budgets ({shares} of budget); derived the most probable network {within}"


def format_summary(summary: dict, out_dir) -> str:
    """A short human table: budgets against predicted costs, validation scores, wall time, where things are."""
    p = summary["predicted"]
    rows = [
        ("search", f"{summary['method']} on {summary['dataset']} for {summary['mcu']} (seed {summary['seed']})"),
        ("latency", latency_text(p['latency_ms'], p.get("latency_unit", "ms"))
         + f" predicted ({100 * p['latency_predicted_share']:.0f} % from the "
         + ("board's calibrated predictor)" if p.get("predictor_calibrated") else "fallback predictor)")),
        ("arena", f"{p['arena_bytes'] / 1024:.2f} kB predicted"),
        ("flash", f"{p['flash_bytes'] / 1024:.2f} kB predicted"),
    ]
    derivation = summary.get("derivation") or {}
    if derivation.get("argmax_is_derived") is False:
        rows.append(("derivation", derivation_text(derivation)))
    for name, c in summary["constraints"].items():
        verdict = "met" if c["met"] else "VIOLATED"
        rows.append((f"budget {name}", f"{c['predicted']:.4g} / {c['budget']:g} {c['unit']}: {verdict}"))
    v = summary["validation"]
    rows += [
        ("arch-val", f"accuracy {100 * v['accuracy']:.2f} %, macro-F1 {v['macro_f1']:.4f} ({v['windows']} windows)"),
        ("wall time", f"{summary['wall_time_s']:.1f} s"
                      + (f" over {summary['runs']} runs (resumed)" if summary["runs"] > 1 else "")),
        ("run dir", str(out_dir)),
        ("mlflow run", summary["mlflow_run_id"]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def budget_rows(summary: dict) -> list[dict]:
    """Per cost: its budget (None if unset), the predicted figure and the verdict, in the budget's unit."""
    p, unit = summary["predicted"], summary["predicted"].get("latency_unit", "ms")
    figures = {"latency": (p["latency_ms"], unit), "memory": (p["arena_bytes"] / 1024, "kB"),
               "flash": (p["flash_bytes"] / 1024, "kB")}
    rows = []
    for name, (value, cost_unit) in figures.items():
        budget = summary["constraints"].get(name)
        rows.append({"cost": name, "unit": cost_unit, "predicted": round(value, 4),
                     "budget": budget["budget"] if budget else None,
                     "verdict": ("met" if budget["met"] else "VIOLATED") if budget else "no budget"})
    return rows


def summary_markdown(summary: dict) -> str:
    """The run's description: what was searched, predicted costs against budgets, arch-val scores."""
    v = summary["validation"]
    lines = [f"**{summary['method']}** search on **{summary['dataset']}** for **{summary['mcu']}** "
             f"(seed {summary['seed']})", "", "| cost | predicted | budget | verdict |",
             "|---|---:|---:|---|"]
    for row in budget_rows(summary):
        budget = "-" if row["budget"] is None else f"{row['budget']:g} {row['unit']}"
        predicted = f"{row['predicted']:.4g} {row['unit']}"
        lines.append(f"| {row['cost']} | {predicted} | {budget} | {row['verdict']} |")
    lines += ["", f"arch-val accuracy {100 * v['accuracy']:.2f} %, macro-F1 {v['macro_f1']:.4f} "
                  f"({v['windows']} windows)"]
    return "\n".join(lines) + "\n"
