"""Opening the MLflow store a config names: one sentence for a URI MLflow cannot open, and a new sqlite
store created by one process at a time (MLflow's schema migration fails when several run it at once)."""

import contextlib
import fcntl
from pathlib import Path

from mlflow import MlflowClient

from micronas.errors import ConfigError

SQLITE = "sqlite:///"


@contextlib.contextmanager
def _creation_lock(uri: str):
    """Hold an exclusive lock on the sqlite file of `uri` (creating it empty) for the block; no-op otherwise.

    sqlite locks with fcntl record locks, which `flock` does not touch, so the lock guards only the
    creation of MLflow's tables, never the store's own use.
    """
    if not uri.startswith(SQLITE) or uri == SQLITE or ":memory:" in uri:
        yield
        return
    path = Path(uri[len(SQLITE):].split("?")[0])
    with open(path, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tracking_client(uri: str, setting: str = "logger.tracking_uri") -> MlflowClient:
    """A client of the store at `uri` (created under a lock if it is a new sqlite file); `setting` names
    the option in the error sentence."""
    try:
        with _creation_lock(uri):
            return MlflowClient(uri)
    except Exception as error:  # MLflow and SQLAlchemy raise many types for a bad URI or file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0]
        raise ConfigError(
            f"{setting}={uri} is not an MLflow store that can be opened ({reason.rstrip('.')}); use "
            f"sqlite:///PATH.db, a folder, or http://HOST:PORT of an MLflow server."
        ) from None
