"""One parent MLflow run per Hydra multirun sweep; every job's run becomes its child.

`SweepParentRun` is registered under `hydra.callbacks` in conf/search.yaml. At multirun start it creates
the parent run (or reuses the one named in `<sweep dir>/mlflow_parent_run_id`, so a re-run of an
interrupted sweep with the same `hydra.sweep.dir` continues it) and logs the sweep's config. At each
job's start, in whatever process or machine the launcher (basic, joblib, ray) runs it, it finds the
parent's id — in that file, or, on a cluster node that does not share the sweep directory, in the MLflow
store as the sweep run tagged with the job's `hydra.sweep.dir` — and exports it in
`MICRONAS_PARENT_RUN_ID`, which `make_mlflow_logger` turns into the `mlflow.parentRunId` tag. At
multirun end it writes the Pareto report into `<sweep dir>/report` and logs it to the parent run.
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from micronas.config import to_yaml
from micronas.console import configure_console
from micronas.errors import ConfigError, MicronasError, exit_on_user_error
from micronas.tracking.mlflow_run import run_tags
from micronas.tracking.status import end_run, run_status
from micronas.tracking.store import tracking_client

PARENT_RUN_ENV = "MICRONAS_PARENT_RUN_ID"
PARENT_RUN_FILE = "mlflow_parent_run_id"
REPORT_DIR = "report"
SWEEP_TAG = "micronas.sweep"   # the sweep's `hydra.sweep.dir` as configured (the same string in every job)


def _task_config(config: DictConfig) -> DictConfig:
    """The job config without the `hydra` node (what search.py's main receives)."""
    return OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])


def _sweep_dir(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir))


def _parent_id_file(config: DictConfig) -> Path:
    return _sweep_dir(config) / PARENT_RUN_FILE


def sweep_description(config: DictConfig) -> str:
    """The sweep's command-line overrides, sweeper params and resolved base config, as YAML."""
    sweep = OmegaConf.create({
        "overrides": list(config.hydra.overrides.task),
        "sweeper_params": config.hydra.sweeper.get("params"),
        "launcher": config.hydra.launcher._target_,
    })
    return to_yaml(OmegaConf.create({"sweep": sweep})) + to_yaml(_task_config(config))


def start_parent_run(config: DictConfig) -> str:
    """Create the sweep's parent run (or return the one an earlier, interrupted run of the sweep created)."""
    id_file = _parent_id_file(config)
    client = tracking_client(config.logger.tracking_uri)
    if id_file.is_file():
        run_id = id_file.read_text().strip()
        client.update_run(run_id, status="RUNNING")
        return run_id
    experiment = client.get_experiment_by_name(config.logger.experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(
        config.logger.experiment_name)
    task = _task_config(config)
    tags = run_tags(task) | {"stage": "sweep", SWEEP_TAG: str(config.hydra.sweep.dir),
                             "micronas.sweep_dir": str(_sweep_dir(config).resolve())}
    name = " | ".join(["sweep", task.dataset.name, task.mcu.name, " ".join(config.hydra.overrides.task)])
    run = client.create_run(experiment_id, run_name=name[:250], tags=tags)
    client.log_param(run.info.run_id, "sweep.overrides", " ".join(config.hydra.overrides.task)[:6000])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep_config.yaml"
        path.write_text(sweep_description(config))
        client.log_artifact(run.info.run_id, str(path))
    id_file.parent.mkdir(parents=True, exist_ok=True)
    id_file.write_text(run.info.run_id + "\n")
    return run.info.run_id


def find_parent_run(config: DictConfig) -> str | None:
    """The id of the sweep run a job of `config` belongs to: from the sweep dir, else from MLflow."""
    id_file = _parent_id_file(config)
    if id_file.is_file():
        return id_file.read_text().strip()
    client = tracking_client(config.logger.tracking_uri)
    experiment = client.get_experiment_by_name(config.logger.experiment_name)
    if experiment is None:
        return None
    sweep = str(config.hydra.sweep.dir)
    quote = '"' if "'" in sweep else "'"
    runs = client.search_runs([experiment.experiment_id], f"tags.`{SWEEP_TAG}` = {quote}{sweep}{quote}",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def check_launcher(config: DictConfig) -> None:
    """Refuse a launcher setting that cannot start, in one sentence, before the parent run is created."""
    init = (config.hydra.launcher.get("ray") or {}).get("init") or {}
    if init.get("address") is not None and "object_store_memory" not in init:
        raise ConfigError(
            f"hydra.launcher.ray.init.address={init.address} connects to a running Ray cluster, which refuses "
            "the object-store size hydra/launcher=ray sets for a local instance; use hydra/launcher=ray_cluster "
            "(address=auto by default), or leave the address unset for a local instance."
        )


class SweepParentRun(Callback):
    """Hydra callback: one parent MLflow run per multirun, jobs as children, the Pareto report at the end."""

    active: tuple[str, str] | None = None   # (tracking URI, run id) of the sweep this process drives

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        # Hydra turns a callback's exception into a warning and goes on; a bad launcher must stop the sweep.
        configure_console(config.get("verbose", False))
        exit_on_user_error(check_launcher)(config)
        SweepParentRun.active = (config.logger.tracking_uri, exit_on_user_error(start_parent_run)(config))

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        parent = find_parent_run(config) if config.hydra.mode == RunMode.MULTIRUN else None
        if parent:
            os.environ[PARENT_RUN_ENV] = parent
        else:
            os.environ.pop(PARENT_RUN_ENV, None)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from micronas.report.build import write_report  # plotting is only needed once the sweep is done

        os.environ.pop(PARENT_RUN_ENV, None)
        parent = _parent_id_file(config).read_text().strip()
        client = tracking_client(config.logger.tracking_uri)
        SweepParentRun.active = None
        try:
            with run_status(client, parent):  # Hydra only warns about a callback's error: the run says FAILED
                write_report(client, parent, _sweep_dir(config) / REPORT_DIR, log_to_parent=True)
        except MicronasError as error:  # e.g. no job finished: each one's error.txt says why
            print(f"error: {error}", file=sys.stderr)
            return
        client.set_terminated(parent, "FINISHED")


@contextlib.contextmanager
def sweep_outcome():
    """Around an entry point: a sweep it drives that ends in an error (a job's crash) or Ctrl-C ends its
    parent run FAILED or KILLED, as a single run does (Hydra calls no callback then)."""
    try:
        yield
    except BaseException as error:
        if SweepParentRun.active is not None and not (isinstance(error, SystemExit) and not error.code):
            uri, run_id = SweepParentRun.active
            end_run(tracking_client(uri), run_id, error)
        raise
