"""Seeded, deterministic index splits: stratified, by subject, and stratified samples."""

import numpy as np

from micronas.errors import DataError


def _largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Integers summing to `total` that round the non-negative `quotas` by the largest remainder."""
    counts = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held) with about `fraction` of every class held out.

    A class with at least two windows keeps at least one and holds at least one, so it appears on
    both sides. Both index arrays are sorted.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"a held-out fraction of {fraction} is not valid; choose a value between 0 and 1.")
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(fraction * len(members)))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held.append(rng.permutation(members)[:count])
    held_index = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    kept_index = np.setdiff1d(np.arange(len(labels)), held_index)
    return kept_index, held_index


def subject_split(
    subjects: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Hold out all windows of `count` randomly chosen subjects: (kept, held, held subject ids)."""
    unique = np.unique(subjects)
    if not 0 < count < len(unique):
        raise DataError(
            f"cannot hold out {count} subjects from {len(unique)} training subjects; choose between 1 and "
            f"{len(unique) - 1}."
        )
    chosen = np.sort(rng.choice(unique, size=count, replace=False))
    is_held = np.isin(subjects, chosen)
    return np.flatnonzero(~is_held), np.flatnonzero(is_held), [int(s) for s in chosen]


def stratified_sample(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` indices drawn without replacement, each class in proportion to its share (all if fewer)."""
    if count >= len(labels):
        return np.arange(len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    per_class = _largest_remainder(sizes * count / len(labels), count)
    picked = [
        rng.choice(np.flatnonzero(labels == label), size=n, replace=False)
        for label, n in zip(classes, per_class)
    ]
    return np.sort(np.concatenate(picked))
