"""The probability of every architecture choice after each search epoch, kept through resumes: its table
(one row per epoch, decision and option) and its plot."""

import csv

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


def choice_table(epochs: list[dict[str, list[float]]], space: SearchSpace) -> dict[str, list]:
    """Columns `epoch`, `decision`, `option`, `probability`: one row per epoch, decision and option."""
    table = {"epoch": [], "decision": [], "option": [], "probability": []}
    for number, epoch in enumerate(epochs, start=1):
        for decision in space.decisions:
            for option, probability in zip(decision.options, epoch[decision.key]):
                for column, value in zip(table, (number, decision.key, str(option), probability)):
                    table[column].append(value)
    return table


def write_choice_table(table: dict[str, list], path) -> None:
    """`choice_table` as a CSV file."""
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(table)
        writer.writerows(zip(*table.values()))


def final_choices(path) -> list[dict[str, str]]:
    """The rows of a `write_choice_table` CSV at its last epoch (`epoch`, `decision`, `option`,
    `probability`, as text)."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [row for row in rows if row["epoch"] == rows[-1]["epoch"]]


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
        axis.set_title(decision.key, fontsize=10)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=8, loc="upper left", ncol=2, title="option", title_fontsize=8)
    for axis in list(axes.flat)[len(decisions):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    for axis in axes[:, 0]:
        axis.set_ylabel("probability")
    figure.suptitle("choice probabilities softmax(alpha) per epoch, one panel per decision")
    figure.subplots_adjust(left=0.05, right=0.98, bottom=0.05, top=0.94, hspace=0.45, wspace=0.25)
    figure.savefig(path, dpi=110)
    plt.close(figure)
