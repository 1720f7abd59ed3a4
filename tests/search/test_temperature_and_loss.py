"""Temperature schedules and hardware-aware loss terms (docs/method.md §4.2 and 5)."""

import math

import pytest
import torch

from micronas.errors import ConfigError
from micronas.search.hardware_loss import hardware_loss
from micronas.search.temperature import temperature


def test_exponential_schedule_runs_from_initial_to_final_over_the_whole_search():
    taus = [temperature(s, 1000) for s in range(1000)]
    assert taus[0] == pytest.approx(1.0)
    assert taus[-1] == pytest.approx(0.01)
    assert taus[499] == pytest.approx(0.01 ** (499 / 999))
    assert all(a > b for a, b in zip(taus, taus[1:]))


def test_reference_schedule_multiplies_per_step_and_stops_at_its_floor():
    assert temperature(10, 100, "reference") == pytest.approx(0.995**10)
    assert temperature(10**6, 100, "reference") == pytest.approx(1e-5)


def test_bad_schedule_settings_are_refused():
    with pytest.raises(ConfigError, match="search.temperature.schedule=linear is not a known schedule"):
        temperature(0, 10, "linear")
    with pytest.raises(ConfigError, match="search.temperature.final=2.0 is not valid"):
        temperature(0, 10, final=2.0)


def test_asym_log_is_continuous_at_the_target_and_steeper_above_it():
    target = 50.0
    above = torch.tensor(60.0, requires_grad=True)
    below = torch.tensor(40.0, requires_grad=True)
    hardware_loss(above, target).backward()
    hardware_loss(below, target).backward()
    assert hardware_loss(torch.tensor(target), target).item() == 0.0
    assert above.grad.item() == pytest.approx(4.0 / 60.0)
    assert below.grad.item() == pytest.approx(0.002 / 40.0)
    assert hardware_loss(torch.tensor(100.0), target).item() == pytest.approx(4 * math.log(2))


def test_asym_log_is_scale_free():
    ms = hardware_loss(torch.tensor(75.0), 50.0)
    seconds = hardware_loss(torch.tensor(0.075), 0.050)
    assert ms.item() == pytest.approx(seconds.item())


def test_hinge_gives_no_push_below_the_margin_target():
    target, margin = 100.0, 0.1
    inside = torch.tensor(85.0, requires_grad=True)
    loss = hardware_loss(inside, target, "hinge", margin=margin)
    loss.backward()
    assert loss.item() == 0.0 and inside.grad.item() == 0.0
    over = hardware_loss(torch.tensor(180.0), target, "hinge", margin=margin)
    assert over.item() == pytest.approx(4 * math.log(2))
    squared = hardware_loss(torch.tensor(180.0), target, "hinge", margin=margin, squared=True)
    assert squared.item() == pytest.approx(4 * math.log(2) ** 2)


def test_unknown_loss_mode_is_refused():
    with pytest.raises(ConfigError, match="search.hardware_loss.mode=l2 is not a known mode"):
        hardware_loss(torch.tensor(1.0), 1.0, "l2")
