"""A QEMU board counts instructions, not a board's cycles: wherever a search or a retrain shows its latency,
the unit is millions of instructions (`micronas.budgets.latency_unit`), never ms."""

import pytest

from micronas.budgets import INSTRUCTIONS, latency_unit
from micronas.config import validate
from micronas.cost.model import ArchitectureCosts, CostModel
from micronas.errors import ConfigError
from micronas.search.feasibility import check_latency_table
from micronas.search.summary import build_summary, format_summary
from micronas.space.searchspace import SearchSpace
from micronas.train.artifacts import costs_text
from micronas.train.costs import MeasuredCosts, comparison
from tests.train.conftest import small_basicmotions_arch

COSTS = ArchitectureCosts(latency_ms=1.5241, predicted_share=0.0, arena_bytes=8520, peak_bytes=7000,
                          flash_bytes=9000)
VALIDATION = {"accuracy": 0.5, "macro_f1": 0.4, "windows": 8, "search": {"epochs": 1}}


def test_the_latency_unit_is_instructions_on_every_qemu_board_and_ms_elsewhere(compose):
    for name in ("qemu_m33", "qemu_m4", "qemu_m7"):
        assert latency_unit(compose(f"mcu={name}").mcu) == INSTRUCTIONS == "M instructions"
    for name in ("host", "nucleo_l552", "portenta_h7"):
        assert latency_unit(compose(f"mcu={name}").mcu) == "ms"


def test_a_qemu_search_summary_and_console_say_instructions_and_never_ms(compose):
    cfg = compose("mcu=qemu_m33", "constraints.latency=2", "constraints.memory=20")
    summary = build_summary(cfg, small_basicmotions_arch(), COSTS, VALIDATION, {"latency": 0.5}, "random",
                            1.0, 1, "run-id")
    assert summary["predicted"]["latency_unit"] == INSTRUCTIONS
    assert summary["constraints"]["latency"]["unit"] == INSTRUCTIONS
    text = format_summary(summary, "out")
    assert "1.524 M instructions (QEMU's instruction count, not a board's time) predicted" in text
    assert "1.524 / 2 M instructions: met" in text and " ms" not in text
    host_cfg = compose("mcu=host", "constraints.latency=2")
    arch = small_basicmotions_arch()
    host_summary = build_summary(host_cfg, arch, COSTS, VALIDATION, {}, "random", 1.0, 1, "run-id")
    host = format_summary(host_summary, "out")
    assert "1.524 ms predicted" in host and "instructions" not in host


def test_the_retrain_comparison_gives_the_qemu_latency_in_instructions():
    measured = MeasuredCosts(1.5242, 1.5242, 1.5241, "median", 8520, 9000)
    rows = comparison(COSTS, measured, INSTRUCTIONS)
    assert [row["unit"] for row in rows] == [INSTRUCTIONS, "B", "B"]
    text = costs_text(rows)
    assert "1.5241 M instructions    1.5242 M instructions" in text and " ms" not in text


def test_a_bad_qemu_latency_budget_names_instructions(compose):
    with pytest.raises(ConfigError, match=r"^constraints.latency=-1 is not valid: a latency budget must be a "
                                          r"positive, finite number of M instructions, or null for unconstrained.$"):
        validate(compose("mcu=qemu_m33", "constraints.latency=-1"))


def test_a_qemu_search_without_its_table_names_the_profile_command(compose, tmp_path):
    cfg = compose("mcu=qemu_m33", "dataset=japanesevowels", f"mcu.cost.lut_path={tmp_path / 'none.jsonl'}")
    space = SearchSpace.from_config(cfg)
    sentence = (r"^mcu=qemu_m33 has no latency table for this search space \(.*none.jsonl holds none of its "
                r"414 operators\); profile it first in QEMU, with the firmware \(python -m "
                r"micronas.profiling.profile mcu=qemu_m33 dataset=japanesevowels; resumable, one entry at a "
                r"time\).$")
    with pytest.raises(ConfigError, match=sentence):
        check_latency_table(space, CostModel.from_mcu(cfg.mcu), cfg.mcu, cfg.dataset.name)
