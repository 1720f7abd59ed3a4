"""The search space: operators, cells, the supernet and discrete architectures."""

from micronas.space.opspec import OpSpec

__all__ = ["OpSpec"]
