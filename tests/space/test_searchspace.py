import subprocess
import sys

import numpy as np
import pytest
import torch

from micronas.space.layers import width_mask
from micronas.space.searchspace import SF_WIDTHS, SearchSpace, halvings


def test_ucihar_matches_the_worked_example(spaces):
    space = spaces["ucihar"]
    assert space.input_shape == (128, 9) and space.num_classes == 6
    assert [c.type for c in space.cells] == ["tr"] * 3 + ["sf_reduce", "sf", "sf"]
    assert [c.output_hw for c in space.cells] == [(64, 9), (32, 9), (16, 9), (16, 5), (16, 5), (16, 5)]
    assert space.head_hw == (16, 5)
    assert space.logit_count == 3 * 7 + 24 + 2 * 26 == 97
    assert space.size == 12**3 * 1024 * 1025**2
    assert f"{space.size:.3g}" == "1.86e+12"


def test_skodar_matches_the_worked_example(spaces):
    space = spaces["skodar"]
    assert space.input_shape == (64, 30)
    assert [c.type for c in space.cells] == ["tr"] * 2 + ["sf_reduce", "sf", "sf"] * 2
    assert [c.output_hw[1] for c in space.cells[2:]] == [15, 15, 15, 8, 8, 8]
    assert space.head_hw == (16, 8)
    assert space.logit_count == 2 * 7 + 2 * 24 + 4 * 26 == 166
    assert space.size == 12**2 * 1024**2 * 1025**4
    assert f"{space.size:.3g}" == "1.67e+20"


@pytest.mark.parametrize(
    "size, limit, expected",
    [
        (128, 16, 3),
        (64, 16, 2),
        (100, 16, 2),
        (25, 16, 1),
        (31, 16, 1),
        (32, 16, 1),
        (33, 16, 1),
        (60, 16, 1),
        (61, 16, 2),
        (9, 5, 1),
        (30, 5, 2),
        (12, 5, 1),
        (6, 5, 1),
        (1, 5, 1),
    ],
)
def test_halvings_follow_the_dimension_limits(size, limit, expected):
    assert halvings(size, limit) == expected


def test_small_sensor_counts_keep_one_stage_below_the_limit():
    space = SearchSpace(100, 6, 4)  # BasicMotions: 6 -> 3
    assert [c.type for c in space.cells] == ["tr", "tr", "sf_reduce", "sf", "sf"]
    assert space.head_hw == (25, 3)


def test_decisions_are_ordered_by_cell_then_decision_order(space):
    keys = [d.key for d in space.decisions]
    assert list(space.logit_shapes()) == keys
    assert len(set(keys)) == len(keys)
    assert [d.cell for d in space.decisions] == sorted(d.cell for d in space.decisions)
    for cell in space.cells:
        names = [d.name for d in space.decisions if d.cell == cell.index]
        expected = {
            "tr": ["kernel", "width"],
            "sf_reduce": ["bottleneck_width", "block_width", "branch3", "branch5", "branch7", "residual"],
        }.get(
            cell.type,
            ["bottleneck_width", "block_width", "branch3", "branch5", "branch7", "residual", "skip"],
        )
        assert names == expected
    binary = [d for d in space.decisions if d.ways == 2]
    assert all(d.options == (False, True) for d in binary)


def test_uniform_width_weights_give_the_cumulative_mask():
    mask = width_mask(torch.full((8,), 1 / 8), SF_WIDTHS)
    expected = torch.tensor([(8 - i) / 8 for i in range(8)]).repeat_interleave(8)
    torch.testing.assert_close(mask, expected)
    one_hot = torch.zeros(8)
    one_hot[2] = 1  # width 24
    assert width_mask(one_hot, SF_WIDTHS).tolist() == [1.0] * 24 + [0.0] * 40


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "micronas.space", *args], capture_output=True, text=True, timeout=120
    )


def test_info_cli_prints_cells_decisions_and_size():
    result = run_cli("info", "dataset=ucihar")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "window 128x9, 6 classes, 6 cells" in out
    assert "cell 3 sf_reduce 16x9 -> 16x5  24 logits" in out
    assert "architecture logits: 97" in out
    assert "discrete architectures: 1.86e+12 (1859051520000)" in out


def test_info_cli_refuses_an_unknown_dataset_in_one_sentence():
    result = run_cli("info", "dataset=nosuch")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset=nosuch" in lines[0] and "ucihar" in lines[0]


def test_a_dataset_config_without_a_window_shape_has_its_file_read(tmp_path):
    """`dataset=npz` states no shape: the space is that of the file's X [N, C, T] and its classes."""
    from micronas.config import load_config
    from micronas.errors import DataError

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", X=rng.normal(size=(60, 4, 48)), y=np.arange(60) % 5)
    cfg = load_config("search", ["dataset=npz", f"dataset.path={tmp_path / 'mine.npz'}"])
    assert SearchSpace.from_config(cfg) == SearchSpace(48, 4, 5)
    result = run_cli("info", "dataset=npz", f"dataset.path={tmp_path / 'mine.npz'}")
    assert result.returncode == 0, result.stderr
    assert "window 48x4, 5 classes" in result.stdout
    cfg = load_config("search", ["dataset=npz", f"dataset.path={tmp_path / 'none.npz'}"])
    with pytest.raises(DataError, match="none.npz does not exist"):
        SearchSpace.from_config(cfg)
