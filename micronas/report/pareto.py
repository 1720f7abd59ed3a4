"""Pareto fronts: the points no other point beats on both cost (lower) and accuracy (higher)."""


def pareto_front(points: list, cost, accuracy) -> list:
    """The non-dominated `points` under `cost(point)` (minimised) and `accuracy(point)` (maximised).

    Sorted by cost; of equal points only the first is kept.
    """
    front = []
    for point in sorted(points, key=lambda p: (cost(p), -accuracy(p))):
        if not front or accuracy(point) > accuracy(front[-1]):
            front.append(point)
    return front
