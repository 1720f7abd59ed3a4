"""Architecture logits and their relaxations: Gumbel-softmax (DNAS), plain softmax (DARTS), argmax."""

import torch
from torch import nn

from micronas.space.searchspace import SearchSpace

WIDTH_DECISIONS = ("width", "bottleneck_width", "block_width")


def _param_name(key: str) -> str:
    # nn.ParameterDict refuses "." in names; decision keys are "cell{i}.{name}".
    return key.replace(".", "__")


class ArchitectureLogits(nn.Module):
    """One logit vector per decision of a space, initialised as docs/method.md §3.6 says.

    Width logits start at 0 (uniform); kernel, branch, residual and skip logits at `1e-3 * N(0, 1)`.
    """

    def __init__(self, space: SearchSpace, generator: torch.Generator | None = None):
        super().__init__()
        self.space = space
        self.params = nn.ParameterDict()
        for decision in space.decisions:
            if decision.name in WIDTH_DECISIONS:
                init = torch.zeros(decision.ways)
            else:
                init = 1e-3 * torch.randn(decision.ways, generator=generator)
            self.params[_param_name(decision.key)] = nn.Parameter(init)

    def as_dict(self) -> dict[str, torch.Tensor]:
        """`{decision key: logits}` in decision order."""
        return {d.key: self.params[_param_name(d.key)] for d in self.space.decisions}

    def probabilities(self, temperature: float = 1.0) -> dict[str, torch.Tensor]:
        """Noise-free `softmax(alpha / tau)` per decision."""
        return {key: torch.softmax(alpha / temperature, dim=0) for key, alpha in self.as_dict().items()}

    def gumbel_sample(self, temperature: float, detach: bool = False) -> dict[str, torch.Tensor]:
        """A fresh soft Gumbel-softmax sample per decision: `softmax((alpha + g) / tau)`."""
        sample = {}
        for key, alpha in self.as_dict().items():
            alpha = alpha.detach() if detach else alpha
            uniform = torch.rand_like(alpha).clamp_(1e-10, 1.0 - 1e-7)
            sample[key] = torch.softmax((alpha - torch.log(-torch.log(uniform))) / temperature, dim=0)
        return sample


def mean_entropy(probabilities: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean over decisions of each choice distribution's Shannon entropy (nats), differentiable."""
    terms = [-(p * torch.log(p.clamp_min(1e-12))).sum() for p in probabilities.values()]
    return torch.stack(terms).mean()
