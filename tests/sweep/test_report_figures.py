"""The report's figures read from a real sqlite MLflow store: one board per axis, titles, units, the budget
line, legends that can be read, no undefined R^2."""

import matplotlib.pyplot as plt
import pytest
from mlflow import MlflowClient

from micronas.report import figures
from micronas.report.build import write_report


def search_run(client, experiment, mcu, budget_ms, predicted_ms, accuracy):
    run = client.create_run(experiment, tags={"stage": "search", "latency_unit": "ms"}).info.run_id
    for key, value in {"search.method": "dnas", "dataset": "basicmotions", "mcu": mcu,
                       "constraints.latency": budget_ms, "constraints.memory": None}.items():
        client.log_param(run, key, value)
    met = float(predicted_ms <= budget_ms)
    for key, value in {"derived/val_acc": accuracy, "predicted/latency_ms": predicted_ms,
                       "predicted/arena_bytes": 4096.0, "constraint/latency_met": met}.items():
        client.log_metric(run, key, value)
    client.set_terminated(run, "FINISHED")
    return run


def retrain_run(client, experiment, search, mcu, predicted_ms, measured_ms):
    run = client.create_run(experiment, tags={"stage": "train", "latency_unit": "ms",
                                              "micronas.search_run_id": search}).info.run_id
    client.log_param(run, "mcu", mcu)
    for key, value in {"measured/latency_ms": measured_ms, "predicted/latency_ms": predicted_ms,
                       "measured/arena_bytes": 5000.0, "predicted/arena_bytes": 4900.0,
                       "test/int8_acc": 0.9}.items():
        client.log_metric(run, key, value)
    client.set_terminated(run, "FINISHED")


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the report draws, kept open for inspection: {file name: figure}."""
    kept = {}
    save = plt.Figure.savefig

    def savefig(figure, path, *args, **kwargs):
        kept[str(path).rsplit("/", 1)[-1]] = figure
        save(figure, path, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", savefig)
    monkeypatch.setattr(figures.plt, "close", lambda figure=None: None)
    return kept


def test_boards_never_share_an_axis_and_every_figure_says_what_it_shows(tmp_path, drawn):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("micronas-basicmotions")
    retrained = search_run(client, experiment, "nucleo_l552", 10, 8.0, 0.75)
    retrain_run(client, experiment, retrained, "host", 0.12, 0.116)    # measured on this computer
    search_run(client, experiment, "nucleo_l552", 20, 15.0, 0.80)
    search_run(client, experiment, "nucleo_l552", 40, 31.0, 0.85)
    write_report(client, "micronas-basicmotions", tmp_path / "report")

    boards = {"host": [0.116], "nucleo_l552": [15.0, 31.0]}    # latency (ms) of each board's points
    for board, latencies in boards.items():
        axes = drawn[f"pareto_latency_{board}.png"].axes[0]
        xs = sorted(float(x) for c in axes.collections for x, _ in c.get_offsets())
        assert xs == latencies                                  # no other board's point on this axis
        assert board in axes.get_title() and "(ms" in axes.get_xlabel() and "%" in axes.get_ylabel()
        lines = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
        budgets = sorted(float(line.get_xdata()[0]) for line in lines)
        assert budgets == ([] if board == "host" else [20.0, 40.0])   # the 10 ms was the L552's budget
        legend = axes.get_legend()
        assert legend is not None and min(t.get_fontsize() for t in legend.get_texts()) >= 8
        assert drawn[f"pareto_latency_{board}.png"].dpi >= 100
    assert not (tmp_path / "report" / "pareto_latency.png").exists()

    prediction = drawn["prediction_latency_host.png"].axes[0]   # one retrained point: R^2 is undefined
    assert "host" in prediction.get_title() and "nan" not in prediction.get_title().lower()
    assert "n=1" in prediction.get_title() and "MAPE=3.4 %" in prediction.get_title()


def test_a_confusion_matrix_title_is_kept_whole(tmp_path):
    import numpy as np
    from PIL import Image

    from micronas.train.artifacts import confusion_png

    title = ("basicmotions test (aeon train/test), int8, seed 0: acc 97.50 % - a title as long as the "
             "one train.py writes for a small dataset")
    path = confusion_png(np.eye(4, dtype=int) * 10, ["standing", "running", "walking", "badminton"],
                         tmp_path / "c.png", title)
    pixels = np.asarray(Image.open(path).convert("L"))
    assert (pixels[:, :3] > 250).all() and (pixels[:, -3:] > 250).all()   # nothing drawn to the edges
