"""`run_search` on real bundled data with a real sqlite MLflow store: files, MLflow, budgets, resume."""

import csv
import json

import mlflow
import pytest
import torch

from micronas.cost.model import CostModel
from micronas.errors import ConfigError, MicronasError
from micronas.search import search_run
from micronas.search.feasibility import cheapest_figures
from micronas.search.search_module import SearchModule
from micronas.search.search_run import run_search
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace


@pytest.fixture
def search_cfg(compose, mlflow_uri):
    def _cfg(*overrides):
        return compose(f"logger.tracking_uri={mlflow_uri}",
                       "trainer.enable_progress_bar=false", *overrides)

    return _cfg


def read_run(cfg, run_id):
    client = mlflow.MlflowClient(cfg.logger.tracking_uri)
    return client, client.get_run(run_id)


def test_a_two_epoch_search_writes_its_run_directory_and_reads_back_from_mlflow(search_cfg, tmp_path):
    cfg = search_cfg("search.epochs=2", "++search.min_steps=0", "constraints.latency=40",
                     "constraints.memory=20")
    out = tmp_path / "run"
    summary = run_search(cfg, out)

    for name in ("architecture.json", "summary.json", "config.yaml", "choice_probabilities.png",
                 "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    arch = Architecture.load(out / "architecture.json")
    assert json.loads((out / "summary.json").read_text()) == summary
    costs = CostModel.from_mcu(cfg.mcu).predict(arch)
    assert summary["predicted"]["latency_ms"] == pytest.approx(costs.latency_ms)
    assert summary["predicted"]["arena_bytes"] == costs.arena_bytes == arch.costs["arena_bytes"]
    assert summary["predicted"]["flash_bytes"] == costs.flash_bytes
    assert set(summary["constraints"]) == {"latency", "memory"}
    assert summary["constraints"]["latency"]["met"] == (costs.latency_ms <= 40)
    assert 0 <= summary["validation"]["accuracy"] <= 1 and summary["validation"]["windows"] == 8
    assert summary["wall_time_s"] > 0

    client, run = read_run(cfg, summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dataset"] == "basicmotions" and run.data.tags["mcu"] == "nucleo_l552"
    assert run.data.tags["stage"] == "search" and run.data.tags["search.method"] == "dnas"
    assert run.data.tags["constraints_met"] == str(summary["constraints_met"]).lower()
    metrics = run.data.metrics
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", "arch/temperature", "arch/mean_entropy",
                "arch/expected_latency_ms", "arch/expected_memory_bytes", "predicted/latency_ms",
                "derived/val_macro_f1"):
        assert key in metrics, key
    # the results are not buried: no per-option metric; each decision's probabilities are a table instead
    assert not [key for key in metrics if key.startswith(("arch/p/", "arch/entropy/"))]
    assert len(metrics) <= 25, sorted(metrics)
    assert run.info.run_name == "dnas | basicmotions | nucleo_l552 | latency<=40 ms, memory<=20 kB"
    assert len(client.get_metric_history(run.info.run_id, "arch/temperature")) == 2  # one per epoch
    assert metrics["predicted/arena_bytes"] == costs.arena_bytes
    params = run.data.params
    assert params["arch.cell0.kernel"] == str(arch.cells[0].kernel)
    assert params["constraints.latency"] == "40"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"architecture.json", "summary.json", "config.yaml", "choice_probabilities.png",
            "choice_probabilities.csv", "choice_probabilities_final.json", "budgets.json"} <= artifacts
    space = SearchSpace(100, 6, 4)
    with open(out / "choice_probabilities.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 * sum(len(d.options) for d in space.decisions)   # epochs x options
    for decision in space.decisions:
        last = [float(r["probability"]) for r in rows if r["epoch"] == "2" and r["decision"] == decision.key]
        assert sum(last) == pytest.approx(1, abs=1e-5)
    verdict = "met" if costs.latency_ms <= 40 else "VIOLATED"
    note = run.data.tags["mlflow.note.content"]   # the run's description in the UI
    assert f"| latency | {costs.latency_ms:.4g} ms | 40 ms | {verdict} |" in note
    assert f"| memory | {costs.arena_bytes / 1024:.4g} kB | 20 kB |" in note and "| flash |" in note
    # Run again into the same directory (a re-run sweep): the finished search is kept, not repeated.
    runs_before = len(client.search_runs([run.info.experiment_id], max_results=1000))
    assert run_search(cfg, out) == summary
    assert len(client.search_runs([run.info.experiment_id], max_results=1000)) == runs_before


def test_a_budget_below_the_cheapest_architecture_stops_before_training(search_cfg, tmp_path):
    cfg = search_cfg("constraints.latency=1")
    space = SearchSpace(100, 6, 4)
    cheapest = cheapest_figures(space, CostModel.from_mcu(cfg.mcu), ["latency", "memory"])
    with pytest.raises(ConfigError,
                       match=r"constraints.latency=1 ms is below the cheapest architecture") as info:
        run_search(cfg, tmp_path / "run")
    assert f"{cheapest['latency']:.4g} ms" in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
    memory_cfg = search_cfg(f"constraints.memory={cheapest['memory'] * 0.9:.3f}")
    with pytest.raises(ConfigError, match=r"constraints.memory=.* kB is below the cheapest"):
        run_search(memory_cfg, tmp_path / "run2")


def test_a_derived_architecture_that_breaks_a_budget_is_reported_in_console_and_mlflow(search_cfg, tmp_path,
                                                                                       capsys):
    cfg = search_cfg("search=darts", "search.epochs=1", "++search.min_steps=0")
    cheapest = cheapest_figures(SearchSpace(100, 6, 4), CostModel.from_mcu(cfg.mcu), ["latency"])["latency"]
    cfg.constraints.latency = round(cheapest * 1.02, 3)
    summary = run_search(cfg, tmp_path / "run")
    # DARTS ignores the budget: one epoch from near-uniform logits derives a network far above the cheapest.
    assert summary["constraints_met"] is False and summary["constraints"]["latency"]["met"] is False
    out = capsys.readouterr().out
    assert "VIOLATED" in out and "WARNING: the derived architecture breaks constraints.latency=" in out
    _, run = read_run(cfg, summary["mlflow_run_id"])
    assert run.data.tags["constraints_met"] == "false"
    assert "constraints.latency" in run.data.tags["violations"]
    assert run.data.metrics["constraint/latency_met"] == 0.0


def test_an_interrupted_search_resumes_into_the_same_run_with_the_same_result(search_cfg, tmp_path,
                                                                             monkeypatch, capsys):
    overrides = ("search.epochs=4", "++search.min_steps=0", "constraints.latency=30")
    whole = run_search(search_cfg(*overrides), tmp_path / "whole")

    original = SearchModule.on_train_epoch_start

    def interrupt_at_epoch_two(module):
        if module.current_epoch == 2:
            raise KeyboardInterrupt
        original(module)

    monkeypatch.setattr(SearchModule, "on_train_epoch_start", interrupt_at_epoch_two)
    with pytest.raises(SystemExit):  # Lightning's graceful Ctrl-C ends in exit status 1
        run_search(search_cfg(*overrides), tmp_path / "killed")
    assert f"resume it with ckpt_path={tmp_path / 'killed'}" in capsys.readouterr().out
    assert torch.load(tmp_path / "killed/checkpoints/last.ckpt", weights_only=False)["epoch"] == 1
    killed_time = json.loads((tmp_path / "killed" / "search_time.json").read_text())
    assert killed_time["runs"] == 1 and killed_time["wall_time_s"] > 0
    monkeypatch.setattr(SearchModule, "on_train_epoch_start", original)

    resumed = run_search(search_cfg(*overrides, f"ckpt_path={tmp_path / 'killed'}"), tmp_path / "resumed")
    # the reported wall time covers both runs, not only the one that finished
    assert whole["runs"] == 1 and resumed["runs"] == 2
    assert resumed["wall_time_s"] > killed_time["wall_time_s"]
    assert resumed["architecture"] == whole["architecture"]
    assert resumed["validation"] == whole["validation"]
    assert resumed["predicted"] == whole["predicted"]
    first = (tmp_path / "killed" / "mlflow_run_id").read_text().strip()
    assert resumed["mlflow_run_id"] == first
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=False)["state_dict"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)


def test_a_corrupt_search_time_record_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "search_time.json").write_text("{not json")
    with pytest.raises(MicronasError, match=r"search_time.json is not a search time record \(JSON with "
                                            r"wall_time_s and runs\); delete it"):
        search_run.earlier_search_time(tmp_path)
    assert search_run.earlier_search_time(None) == (0.0, 0)


def test_resuming_from_a_missing_or_foreign_checkpoint_is_refused_in_one_sentence(search_cfg, tmp_path):
    with pytest.raises(ConfigError,
                       match=r"ckpt_path=.*nowhere.ckpt is neither a .ckpt file nor a search run"):
        search_run.resume_source(tmp_path / "nowhere.ckpt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"holds no checkpoints/last.ckpt"):
        run_search(search_cfg(f"ckpt_path={tmp_path / 'empty'}", "search.epochs=1",
                              "++search.min_steps=0"), tmp_path / "run")
    (tmp_path / "bad" / "checkpoints").mkdir(parents=True)
    (tmp_path / "bad" / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"ckpt_path=.*last.ckpt is not a readable checkpoint"):
        run_search(search_cfg(f"ckpt_path={tmp_path / 'bad'}"), tmp_path / "run")
    run_search(search_cfg("search.epochs=1", "++search.min_steps=0"), tmp_path / "one")
    with pytest.raises(ConfigError, match=r"the checkpoint belongs to another search"):
        run_search(search_cfg("search.epochs=2", "++search.min_steps=0", "seed=1",
                              f"ckpt_path={tmp_path / 'one'}"), tmp_path / "two")


@pytest.mark.parametrize("dataset", ["japanesevowels"])
def test_darts_and_random_baselines_run_through_the_same_entry(search_cfg, tmp_path, dataset):
    darts = run_search(search_cfg(f"dataset={dataset}", "search=darts", "search.epochs=1",
                                  "++search.min_steps=0"), tmp_path / "darts")
    assert darts["method"] == "darts" and darts["constraints"] == {}
    random = run_search(
        search_cfg(f"dataset={dataset}", "search=random", "search.candidates=2", "search.epochs=2",
                   "++search.min_steps=0",
                   "constraints.latency=40"),
        tmp_path / "random",
    )
    assert random["method"] == "random" and random["constraints"]["latency"]["met"] is True
    lines = (tmp_path / "random" / "candidates.jsonl").read_text().splitlines()
    assert len(lines) == 2
    client, run = read_run(search_cfg(), random["mlflow_run_id"])
    assert len(client.get_metric_history(run.info.run_id, "candidate/val_acc")) == 2
    assert "candidates.jsonl" in {a.path for a in client.list_artifacts(run.info.run_id)}
