"""A run's MLflow status tells the truth: RUNNING while it works, FAILED on any error, KILLED on Ctrl-C."""

import contextlib
import sys

from mlflow import MlflowClient


def interrupted(error: BaseException) -> bool:
    """Whether `error` is a Ctrl-C, or the `SystemExit` Lightning raises after handling one."""
    return isinstance(error, KeyboardInterrupt) or (
        isinstance(error, SystemExit) and isinstance(error.__context__, KeyboardInterrupt))


def end_run(client: MlflowClient, run_id: str, error: BaseException) -> None:
    """Mark `run_id` KILLED (Ctrl-C) or FAILED (anything else) because of `error`, and say so."""
    status = "KILLED" if interrupted(error) else "FAILED"
    client.set_terminated(run_id, status)
    print(f"MLflow run {run_id} marked {status}", file=sys.stderr)


@contextlib.contextmanager
def run_status(client: MlflowClient, run_id: str):
    """Mark `run_id` RUNNING for the block (a resumed run was KILLED) and end it as `end_run` says if the
    block raises. The block itself marks the run FINISHED once all its results are recorded."""
    client.update_run(run_id, status="RUNNING")
    try:
        yield
    except BaseException as error:
        end_run(client, run_id, error)
        raise
