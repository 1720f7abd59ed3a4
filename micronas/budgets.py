"""The budgets a user sets (`constraints.latency` ms, `constraints.memory` and `constraints.flash` kB) and
how any set of costs with `latency_ms`, `arena_bytes` and `flash_bytes` is judged against them."""

UNITS = {"latency": "ms", "memory": "kB", "flash": "kB"}
FIELDS = {  # budget -> (cost field, field units per budget unit)
    "latency": ("latency_ms", 1.0),
    "memory": ("arena_bytes", 1024.0),
    "flash": ("flash_bytes", 1024.0),
}


def budget_value(costs, budget: str) -> float:
    """The figure `budget` constrains, in the budget's units."""
    field, per_unit = FIELDS[budget]
    return getattr(costs, field) / per_unit


def verdicts(costs, constraints) -> dict[str, bool]:
    """`{budget: met?}` for every non-null budget of `constraints`."""
    return {
        name: budget_value(costs, name) <= float(limit)
        for name, limit in (constraints or {}).items()
        if limit is not None
    }
