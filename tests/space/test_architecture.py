import json

import numpy as np
import pytest
import torch

from micronas.space.architecture import Architecture, ArchitectureError, SFCell, TRCell
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import SearchSpace

UCIHAR = SearchSpace(128, 9, 6)


def sf(reducing=False, b=16, y=32, on=(3,), residual=False, skip=False):
    return SFCell(reducing, b, y, 3 in on, 5 in on, 7 in on, residual, skip)


def ucihar_arch(cell3=None, cell4=None, cell5=None):
    cells = (
        TRCell(5, 8),
        TRCell(3, 12),
        TRCell(7, 16),
        cell3 or sf(reducing=True, b=24, y=32, on=(3, 7), residual=True),
        cell4 or sf(b=8, y=16, on=(5,), residual=False),
        cell5 or sf(skip=True),
    )
    return Architecture((128, 9), 6, cells)


def conv(i, o, k, s, act="relu"):
    return OpSpec("conv2d", i, o, k, s, "same", act)


def test_ops_follow_the_exporters_fixed_order():
    assert ucihar_arch().ops() == [
        conv((128, 9, 1), (64, 9, 8), (5, 1), (2, 1)),
        conv((64, 9, 8), (32, 9, 12), (3, 1), (2, 1)),
        conv((32, 9, 12), (16, 9, 16), (7, 1), (2, 1)),
        conv((16, 9, 16), (16, 5, 24), (1, 9), (1, 2)),  # bottleneck
        conv((16, 5, 24), (16, 5, 32), (3, 1), (1, 1)),  # branch 3
        conv((16, 5, 24), (16, 5, 32), (7, 1), (1, 1)),  # branch 7
        OpSpec("add", (16, 5, 32), (16, 5, 32)),
        conv((16, 9, 16), (16, 5, 32), (1, 2), (1, 2)),  # residual
        OpSpec("add", (16, 5, 32), (16, 5, 32)),
        conv((16, 5, 32), (16, 5, 8), (1, 5), (1, 1)),  # cell 4 bottleneck
        conv((16, 5, 8), (16, 5, 16), (5, 1), (1, 1)),
        # cell 5 is skipped: no ops
        conv((16, 5, 16), (16, 5, 6), (1, 1), (1, 1), act="none"),  # head
        OpSpec("mean", (16, 5, 6), (6,)),
        OpSpec("softmax", (6,), (6,)),
    ]


def test_a_dead_bottleneck_is_not_emitted():
    arch = ucihar_arch(cell4=sf(b=64, y=40, on=(), residual=True))
    cell4_ops = arch.ops()[9:-3]
    assert cell4_ops == [conv((16, 5, 32), (16, 5, 40), (1, 1), (1, 1))]  # the 1x1 residual, no ADD


def test_three_branches_give_two_adds_plus_the_residual_add():
    arch = ucihar_arch(cell3=sf(reducing=True, on=(3, 5, 7), residual=True))
    kinds = [op.kind for op in arch.ops()[3:10]]
    assert kinds == ["conv2d", "conv2d", "conv2d", "add", "conv2d", "add", "conv2d"]
    assert arch.ops()[10].kind == "add"


def test_json_round_trip_keeps_choices_and_costs(tmp_path):
    arch = Architecture((128, 9), 6, ucihar_arch().cells, {"predicted/latency_ms": 12.5})
    path = arch.save(tmp_path / "architecture.json")
    loaded = Architecture.load(path)
    assert loaded == arch and loaded.costs == {"predicted/latency_ms": 12.5}
    data = json.loads(path.read_text())
    assert data["cells"][3] == {
        "type": "sf_reduce",
        "bottleneck_width": 24,
        "block_width": 32,
        "branch3": True,
        "branch5": False,
        "branch7": True,
        "residual": True,
    }
    assert data["cells"][5]["skip"] is True


def _mutated(edit):
    data = ucihar_arch().to_dict()
    edit(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d["cells"][0].update(width=10), ["width=10", "4, 8, 12, 16"]),
        (lambda d: d["cells"][0].update(kernel=4), ["kernel=4", "3, 5, 7"]),
        (lambda d: d["cells"][3].update(block_width=12.0), ["block_width=12.0", "8, 16"]),
        (lambda d: d["cells"][4].update(branch3=1), ["branch3=1", "false, true"]),
        (lambda d: d["cells"][4].update(colour="red"), ["unknown field colour"]),
        (lambda d: d["cells"][4].pop("residual"), ["lacks residual"]),
        (lambda d: d["cells"][3].update(skip=False), ["unknown field skip"]),
        (lambda d: d["cells"].pop(), ["cells", "128x9"]),
        (lambda d: d["cells"].insert(3, dict(d["cells"][2])), ["cells", "128x9"]),
        (lambda d: d["cells"][1].update(type="conv"), ["cell 1", "tr, sf_reduce, sf"]),
        (lambda d: d.update(input_shape=[100, 6]), ["cells", "100x6"]),
        (lambda d: d.update(input_shape=[128]), ["input_shape=[128]"]),
        (lambda d: d.update(num_classes=1), ["num_classes=1"]),
        (lambda d: d.update(layers=[]), ["unknown field layers"]),
        (lambda d: d.pop("num_classes"), ["lacks num_classes"]),
        (
            lambda d: d["cells"][4].update(branch3=False, branch5=False, branch7=False, residual=False),
            ["cell 4", "no branch on and no residual"],
        ),
    ],
)
def test_invalid_architecture_json_is_refused_in_one_sentence(edit, words):
    with pytest.raises(ArchitectureError) as caught:
        Architecture.from_json(_mutated(edit))
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    for word in words:
        assert word in message


def test_not_json_and_missing_files_are_refused(tmp_path):
    with pytest.raises(ArchitectureError, match="not valid JSON"):
        Architecture.from_json("{cells: ")
    with pytest.raises(ArchitectureError, match="does not exist"):
        Architecture.load(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ArchitectureError, match="list.json: an architecture must be a JSON object"):
        Architecture.load(tmp_path / "list.json")


def test_a_degenerate_but_skipped_cell_is_valid():
    arch = ucihar_arch(cell5=sf(on=(), residual=False, skip=True))
    assert arch.ops() == ucihar_arch().ops()


def test_an_architecture_for_another_window_is_refused():
    with pytest.raises(
        ArchitectureError, match="128x9 windows and 6 classes but dataset basicmotions has 100x6"
    ):
        ucihar_arch().check_compatible(100, 6, 4, "dataset basicmotions")


def test_one_hot_then_derive_returns_the_architecture(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = Architecture.random(space, rng)
        weights = arch.one_hot()
        assert {k: tuple(v.shape) for k, v in weights.items()} == space.logit_shapes()
        assert all(float(v.sum()) == 1.0 for v in weights.values())
        assert Architecture.derive(space, weights) == arch


def test_derive_deploys_a_used_cell_with_nothing_on_as_its_residual():
    logits = {key: torch.zeros(shape) for key, shape in UCIHAR.logit_shapes().items()}
    for k, margin in ((3, -2.0), (5, -0.5), (7, -1.0)):  # every branch off, 5 the most probable
        logits[f"cell4.branch{k}"] = torch.tensor([0.0, margin])
    logits["cell4.residual"] = torch.tensor([1.0, 0.0])
    logits["cell4.skip"] = torch.tensor([1.0, 0.0])  # used
    cell = Architecture.derive(UCIHAR, logits).cells[4]
    assert cell.branches_on == () and cell.residual and not cell.skip


def test_derive_of_tied_branch_logits_keeps_the_branch_off_and_never_fails():
    rng = np.random.default_rng(1)
    for trial in range(200):
        if trial == 0:
            logits = {key: torch.zeros(shape) for key, shape in UCIHAR.logit_shapes().items()}
        else:
            logits = {
                key: torch.as_tensor(rng.normal(size=shape)) for key, shape in UCIHAR.logit_shapes().items()
            }
        arch = Architecture.derive(UCIHAR, logits)  # validated on construction: never degenerate
        if trial == 0:
            assert arch.cells[3].residual and arch.cells[3].branches_on == ()


def test_random_architectures_are_never_degenerate_and_cover_the_options():
    rng = np.random.default_rng(2)
    archs = [Architecture.random(UCIHAR, rng) for _ in range(300)]
    assert {a.cells[0].kernel for a in archs} == {3, 5, 7}
    assert {a.cells[4].skip for a in archs} == {False, True}
    assert not any(c.degenerate for a in archs for c in a.cells[3:])


def test_largest_architecture_uses_every_maximum():
    arch = Architecture.largest(UCIHAR)
    assert all(c.kernel == 7 and c.width == 16 for c in arch.cells[:3])
    assert all(c.branches_on == (3, 5, 7) and c.residual and not c.skip for c in arch.cells[3:])
    assert all(c.bottleneck_width == 64 and c.block_width == 64 for c in arch.cells[3:])


def test_a_binary_architecture_file_ends_in_one_sentence(tmp_path):
    (tmp_path / "architecture.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ArchitectureError, match=r"architecture.json is not UTF-8 text; an architecture file"):
        Architecture.load(tmp_path / "architecture.json")
