"""The probability of every architecture choice after each search epoch, kept through resumes, and its plot."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pytorch_lightning.callbacks import Callback  # noqa: E402

from micronas.space.searchspace import SearchSpace  # noqa: E402


class ChoiceHistory(Callback):
    """Records `softmax(alpha)` of every decision at the end of each training epoch.

    The history is part of the checkpoint, so a resumed search plots its whole run.
    """

    def __init__(self):
        self.epochs: list[dict[str, list[float]]] = []

    def on_train_epoch_end(self, trainer, module) -> None:
        probabilities = module.arch_logits.probabilities()
        self.epochs.append({key: [float(v) for v in p.detach()] for key, p in probabilities.items()})

    def state_dict(self) -> dict:
        return {"epochs": self.epochs}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = list(state["epochs"])


def plot_choice_history(epochs: list[dict[str, list[float]]], space: SearchSpace, path) -> None:
    """One panel per decision, one line per option: how the architecture converged over the epochs."""
    decisions = space.decisions
    columns = 4
    rows = -(-len(decisions) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.4 * rows), squeeze=False, sharex=True)
    x = list(range(1, len(epochs) + 1))
    for axis, decision in zip(axes.flat, decisions):
        for index, option in enumerate(decision.options):
            axis.plot(x, [epoch[decision.key][index] for epoch in epochs], label=str(option))
        axis.set_title(decision.key, fontsize=9)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=6, loc="upper left", ncol=2)
    for axis in list(axes.flat)[len(decisions):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    figure.suptitle("choice probabilities softmax(alpha) per epoch")
    figure.subplots_adjust(left=0.04, right=0.98, bottom=0.04, top=0.95, hspace=0.45, wspace=0.2)
    figure.savefig(path, dpi=60)
    plt.close(figure)
