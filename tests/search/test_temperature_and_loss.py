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


def test_band_pushes_up_below_its_floor_down_above_the_target_and_not_at_all_inside():
    target = 20.0  # band 0.15: the floor is 17
    inside, above, below = (torch.tensor(v, requires_grad=True) for v in (18.0, 25.0, 10.0))
    losses = [hardware_loss(x, target, "band", band=0.15, gamma_up=0.5) for x in (inside, above, below)]
    for loss in losses:
        loss.backward()
    assert losses[0].item() == 0.0 and inside.grad.item() == 0.0
    assert losses[1].item() == pytest.approx(4 * math.log(25 / 20)) and above.grad.item() == pytest.approx(4 / 25)
    assert losses[2].item() == pytest.approx(0.5 * math.log(17 / 10))
    assert below.grad.item() == pytest.approx(-0.5 / 10)  # descent raises the cost
    for edge in (17.0, 20.0):  # continuous at both edges
        assert hardware_loss(torch.tensor(edge), target, "band").item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("band", [0.0, 1.0, -0.2])
def test_a_band_outside_zero_to_one_is_refused(band):
    with pytest.raises(ConfigError, match=f"search.hardware_loss.band={band} is not valid: use 0 < band < 1."):
        hardware_loss(torch.tensor(1.0), 1.0, "band", band=band)


def test_unknown_loss_mode_is_refused():
    with pytest.raises(ConfigError, match="search.hardware_loss.mode=l2 is not a known mode"):
        hardware_loss(torch.tensor(1.0), 1.0, "l2")
