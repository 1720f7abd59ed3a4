"""The budgets a user sets (`constraints.latency` ms, `constraints.memory` and `constraints.flash` kB) and
how any set of costs with `latency_ms`, `arena_bytes` and `flash_bytes` is judged against them.

On a QEMU board (`mcu.device.kind: qemu`) the firmware counts executed instructions, not a board's cycles:
there every "latency_ms" figure and the latency budget are millions of instructions (`latency_unit`)."""

UNITS = {"latency": "ms", "memory": "kB", "flash": "kB"}
INSTRUCTIONS = "M instructions"  # the latency unit of a QEMU board: 10^6 executed instructions
FIELDS = {  # budget -> (cost field, field units per budget unit)
    "latency": ("latency_ms", 1.0),
    "memory": ("arena_bytes", 1024.0),
    "flash": ("flash_bytes", 1024.0),
}


def latency_unit(mcu) -> str:
    """What a latency figure of the MCU config `mcu` counts: `ms` of a board or of this computer, or
    `M instructions` under QEMU, which runs no board's clock."""
    device = mcu.get("device") if mcu is not None else None
    return INSTRUCTIONS if device is not None and device.get("kind") == "qemu" else "ms"


def units(latency: str = "ms") -> dict[str, str]:
    """`UNITS` with the latency unit of the device (`latency_unit`)."""
    return {**UNITS, "latency": latency}


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
