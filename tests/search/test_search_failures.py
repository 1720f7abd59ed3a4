"""A search that fails says so: its MLflow run ends FAILED (Ctrl-C: KILLED), nothing is left RUNNING or
FINISHED by mistake, and a checkpoint of another board or dataset is refused before any run is touched."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from micronas.errors import ConfigError, MicronasError
from micronas.search import search_run
from micronas.search.search_module import SearchModule
from micronas.search.search_run import run_search

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def search_cfg(compose, mlflow_uri):
    def _cfg(*overrides):
        return compose(f"logger.tracking_uri={mlflow_uri}", "trainer.enable_progress_bar=false", *overrides)

    return _cfg


def status_of(cfg, run_dir):
    run_id = (run_dir / search_run.RUN_ID_FILE).read_text().strip()
    return mlflow.MlflowClient(cfg.logger.tracking_uri).get_run(run_id).info.status


def test_a_checkpoint_of_another_mcu_or_dataset_is_refused_naming_what_differs(search_cfg, tmp_path):
    run_search(search_cfg("search.epochs=1", "++search.min_steps=0"), tmp_path / "l552")
    with pytest.raises(ConfigError, match=r"belongs to a search for another dataset or MCU \(.*mcu.board: "
                                          r"'NUCLEO-L552ZE-Q' != 'NUCLEO-F446RE'"):
        run_search(search_cfg("search.epochs=1", "++search.min_steps=0", "mcu=nucleo_f446re",
                              f"ckpt_path={tmp_path / 'l552'}"),
                   tmp_path / "f446")
    assert not (tmp_path / "f446" / search_run.RUN_ID_FILE).exists()
    with pytest.raises(ConfigError, match=r"dataset: 'basicmotions' != 'japanesevowels'"):
        run_search(search_cfg("search.epochs=1", "++search.min_steps=0", "dataset=japanesevowels",
                              f"ckpt_path={tmp_path / 'l552'}"),
                   tmp_path / "vowels")


def test_a_crash_after_the_search_marks_the_run_failed_and_says_so(search_cfg, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("derivation broke")

    monkeypatch.setattr(search_run, "derive_within_budgets", broken)   # after Lightning has ended its part
    cfg = search_cfg("search.epochs=1", "++search.min_steps=0", "constraints.latency=30")
    with pytest.raises(RuntimeError, match="derivation broke"):
        run_search(cfg, tmp_path / "run")
    assert status_of(cfg, tmp_path / "run") == "FAILED"
    assert "marked FAILED" in capsys.readouterr().err
    assert not (tmp_path / "run" / search_run.SUMMARY_FILE).exists()


def test_ctrl_c_marks_the_run_killed(search_cfg, tmp_path, monkeypatch, capsys):
    def interrupt(module):
        raise KeyboardInterrupt

    monkeypatch.setattr(SearchModule, "on_train_epoch_start", interrupt)
    cfg = search_cfg("search.epochs=2", "++search.min_steps=0")
    with pytest.raises(SystemExit):
        run_search(cfg, tmp_path / "run")
    assert status_of(cfg, tmp_path / "run") == "KILLED"
    assert "marked KILLED" in capsys.readouterr().err


def test_an_unknown_method_is_refused_before_any_run_is_created(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "search.py"), "search.method=foo",
                             "hydra.run.dir=run"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: search.method=foo is not valid; valid methods are: darts, dnas, random."]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "run" / search_run.RUN_ID_FILE).exists()


def test_a_search_whose_logits_diverge_refuses_to_derive_and_fails_its_run(search_cfg, tmp_path, monkeypatch):
    def diverge(module):
        with torch.no_grad():
            for logits in module.arch_logits.parameters():
                logits.fill_(float("nan"))

    monkeypatch.setattr(SearchModule, "on_train_epoch_end", diverge)
    cfg = search_cfg("search.epochs=1", "++search.min_steps=0", "constraints.latency=30")
    with pytest.raises(MicronasError, match=r"the search diverged: its architecture logits are not finite "
                                            r"after 1 epochs, so no architecture can be derived"):
        run_search(cfg, tmp_path / "run")
    assert status_of(cfg, tmp_path / "run") == "FAILED"
    assert not (tmp_path / "run" / search_run.SUMMARY_FILE).exists()


def test_a_word_for_the_epochs_ends_in_one_sentence_and_leaves_no_run_running(tmp_path):
    """`search.epochs=five`, alone and as a sweep, against the real sqlite store the command creates."""
    def search(*args):
        return subprocess.run([sys.executable, str(ROOT / "search.py"), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "MICRONAS_DATA_DIR": str(tmp_path / "data")})

    single = search("search.epochs=five")
    assert single.returncode == 2
    assert single.stderr.strip().splitlines()[-1] == \
        "error: search.epochs=five is not valid; use an integer of at least 1."
    sweep = search("-m", "search.epochs=five")
    errors = [line for line in sweep.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == ("error: search.epochs=five is not valid; use an integer of at least 1. This job is "
                         "skipped; the sweep goes on.")
    assert "Traceback" not in sweep.stderr and "UserWarning" not in sweep.stderr
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = [run for experiment in client.search_experiments()
            for run in client.search_runs([experiment.experiment_id])]
    assert [run.data.tags["stage"] for run in runs] == ["sweep"]   # no search run was started
    assert [run.info.status for run in runs] == ["FAILED"]


def test_a_bad_search_setting_is_refused_before_the_data_is_read(search_cfg, tmp_path):
    cfg = search_cfg("dataset=npz", f"dataset.path={tmp_path / 'absent.npz'}", "search.hardware_loss.mode=l2")
    with pytest.raises(ConfigError, match=r"^search.hardware_loss.mode=l2 is not a known mode"):
        run_search(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / search_run.RUN_ID_FILE).exists()


@pytest.mark.parametrize("overrides, sentence", [
    (["search=random", "search.workers=0"],
     "search.workers=0 is not valid; it must be auto or a positive integer."),
    (["search=random", "search.lr=0"],
     "search.lr=0 is not valid; it must be a positive learning rate such as 1e-3."),
    (["trainer.accelerator=abacus"],
     "trainer.accelerator=abacus is not one of cpu, gpu, cuda, mps, tpu, auto."),
    (["search=random", "trainer.devices=0"],
     "trainer.devices=0 is not valid; it must be auto or a positive integer."),
])
def test_a_bad_random_search_or_trainer_setting_is_refused_before_the_data_is_read(search_cfg, tmp_path,
                                                                                   overrides, sentence):
    cfg = search_cfg("dataset=npz", f"dataset.path={tmp_path / 'absent.npz'}", *overrides)
    with pytest.raises(ConfigError) as error:
        run_search(cfg, tmp_path / "run")
    assert str(error.value) == sentence
    assert not (tmp_path / "run" / search_run.RUN_ID_FILE).exists()


def test_a_checkpoint_of_a_search_with_another_schedule_is_refused_naming_what_differs(search_cfg, tmp_path):
    run_search(search_cfg("search.epochs=1", "++search.min_steps=0"), tmp_path / "every1")
    refusal = r"^the checkpoint belongs to another search \(arch_every: 1 != 3, checkpoint != this search\)"
    with pytest.raises(ConfigError, match=refusal):
        run_search(search_cfg("search.epochs=1", "++search.min_steps=0", "search.arch_every=3",
                              f"ckpt_path={tmp_path / 'every1'}"), tmp_path / "every3")
    assert not (tmp_path / "every3" / search_run.RUN_ID_FILE).exists()
