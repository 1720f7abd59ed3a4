"""What a command prints: the libraries' banners and deprecation noise hidden unless verbose, and the
progress of a long phase with an ETA (a bar on a terminal, a plain line now and then elsewhere)."""

import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings

VERBOSE_FLAGS = ("-v", "--verbose")
_verbose = False  # set by `configure_console`; `native_output_hidden` shows everything when it is true
_warnings_hidden = False  # whether `configure_console` hid the libraries' warnings in this process
# Loggers of libraries whose INFO and WARNING lines read as failures to a user (GPU/TPU lines, tips,
# "Experiment ... not found. Creating it.", database migrations, TensorFlow banners).
NOISY_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "mlflow",
                 "alembic", "absl", "tensorflow", "h5py", "matplotlib")


def split_verbose(argv: list[str]) -> tuple[bool, list[str]]:
    """`(-v or --verbose given, the other arguments)`."""
    return any(arg in VERBOSE_FLAGS for arg in argv), [arg for arg in argv if arg not in VERBOSE_FLAGS]


def configure_console(verbose: bool) -> None:
    """Hide library noise and INFO lines on the console unless `verbose`; log files keep what they had.

    Warnings of micronas itself are shown as `WARNING: sentence`."""
    global _verbose, _warnings_hidden
    _verbose = bool(verbose)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    hide_library_warnings()
    _warnings_hidden = True
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:  # the console, not Hydra's log file
            handler.setLevel(logging.WARNING)
            handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))


def hide_library_warnings() -> None:
    """Ignore deprecation warnings and every warning of Lightning and MLflow in this process (a process
    started by `spawn` does not inherit the filters: its initializer calls this when
    `library_warnings_hidden()`)."""
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=r"pytorch_lightning|lightning|lightning_fabric|mlflow")


def library_warnings_hidden() -> bool:
    """Whether `configure_console` hid the libraries' warnings in this process."""
    return _warnings_hidden


@contextlib.contextmanager
def native_output_hidden():
    """Hide what C/C++ code writes to stdout and stderr in the block (the TFLite converter's one
    `fully_quantize: ...` line per operator, absl's banner) unless the console is verbose; shown again if
    the block raises, so nothing is lost."""
    if _verbose:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        else:
            _restore(saved)


def _restore(saved: dict[int, int]) -> None:
    for fd, copy in saved.items():
        os.dup2(copy, fd)
        os.close(copy)
    saved.clear()


def duration(seconds: float) -> str:
    """`1:02:03`, `4:05` or `0:07`."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress of `total` units of work with an ETA: a tqdm bar when `stream` is a terminal, else a line
    at every `every`-th unit (and the last one). `update(n, note)` adds `n` finished units."""

    def __init__(self, total: int, desc: str, unit: str = "step", every: int | None = None,
                 done: int = 0, stream=None, bound: bool = False, plural: str = ""):
        self.total, self.desc, self.unit, self.done = int(total), desc, unit, int(done)
        self.plural = plural or f"{unit}s"
        self.every = every or max(1, self.total // 20)
        self.stream = stream or sys.stderr
        self.bound = bound  # the total is an upper bound (early stopping may end sooner)
        self._start, self._start_done = time.monotonic(), self.done
        self._bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit, file=self.stream,
                             dynamic_ncols=True)

    def eta_s(self) -> float | None:
        """Seconds left at the rate of this session (None before the first unit)."""
        finished = self.done - self._start_done
        if finished <= 0:
            return None
        return (time.monotonic() - self._start) / finished * max(self.total - self.done, 0)

    def line(self, note: str = "") -> str:
        """`desc: 120/2000 steps (6 %), 0:12 elapsed, ETA 3:08[, note]`."""
        eta = self.eta_s()
        eta_text = "ETA ?" if eta is None else f"ETA {'at most ' if self.bound else ''}{duration(eta)}"
        share = 100 * self.done / self.total if self.total else 100
        elapsed = duration(time.monotonic() - self._start)
        return (f"{self.desc}: {self.done}/{self.total} {self.plural} ({share:.0f} %), {elapsed} elapsed, "
                f"{eta_text}" + (f", {note}" if note else ""))

    def update(self, n: int = 1, note: str = "") -> None:
        before, self.done = self.done, min(self.done + n, self.total)
        if self._bar is not None:
            self._bar.update(self.done - before)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
        elif self.done == self.total or self.done // self.every > before // self.every:
            print(self.line(note), file=self.stream, flush=True)

    def close(self, note: str = "") -> None:
        """End the bar; off a terminal, a last line if the work ended before `total` (early stopping)."""
        if self._bar is not None:
            self._bar.close()
        elif self.done < self.total:
            print(self.line(note), file=self.stream, flush=True)
