"""`enumerate_ops`: the profiling to-do list covers every op the space can emit, and nothing else."""

import dataclasses

import numpy as np
import pytest

from micronas.cost.enumerate import enumerate_ops
from micronas.cost.reference_records import load_records, record_op
from micronas.space import Architecture, SearchSpace


@pytest.mark.parametrize("shape, count", [((128, 9, 6), 510), ((64, 30, 10), 918)])
def test_worked_example_counts(shape, count):
    ops = enumerate_ops(SearchSpace(*shape))
    assert len(ops) == count
    assert len({op.key() for op in ops}) == count


@pytest.mark.parametrize(
    "shape", [(128, 9, 6), (64, 30, 10), (100, 6, 4), (29, 12, 26), (25, 12, 5), (24, 3, 3)]
)
def test_every_op_of_random_architectures_is_enumerated(shape):
    space = SearchSpace(*shape)
    keys = {op.key() for op in enumerate_ops(space)}
    rng = np.random.default_rng(0)
    used = set()
    for _ in range(300):
        used |= {op.key() for op in Architecture.random(space, rng).ops()}
    assert used <= keys
    assert Architecture.largest(space).ops()[0].key() in keys


@pytest.mark.parametrize(
    "board, prefix, shape", [("nucleo_l552", "", (128, 9, 6)), ("nucleo_f446re", "skodar", (64, 30, 10))]
)
def test_the_reference_tables_hold_exactly_the_enumerated_ops(reference_dir, board, prefix, shape):
    """The reference implementation profiled the same set (its head conv carried a ReLU)."""
    classes = shape[2]
    measured = set()
    for source, record in load_records(reference_dir / board):
        if not source.startswith(prefix):
            continue
        op = record_op(record["modelConfig"])
        if op.kind == "conv2d" and op.kernel == (1, 1) and op.output_shape[-1] == classes:
            op = dataclasses.replace(op, activation="none")
        measured.add(op.key())
    assert measured == {op.key() for op in enumerate_ops(SearchSpace(*shape))}
