"""The search space: operators, cells, the supernet and discrete architectures.

See `micronas.space.searchspace` for the decision layout shared with the cost model and the search.
"""

from micronas.space.architecture import Architecture, ArchitectureError, SFCell, TRCell
from micronas.space.discrete import DiscreteNet
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import Decision, SearchSpace
from micronas.space.supernet import SuperNet

__all__ = [
    "Architecture",
    "ArchitectureError",
    "Decision",
    "DiscreteNet",
    "OpSpec",
    "SFCell",
    "SearchSpace",
    "SuperNet",
    "TRCell",
]
