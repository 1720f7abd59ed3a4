"""Reliability figures: bad inputs and faults tried as a careful user and as an attacker would.

    .venv/bin/python bench/reliability.py [--work outputs/bench-reliability] [--only NAME,...]

Every case runs the real command line (`search.py`, `train.py`, `python -m micronas.report`) in its own
folder with its own sqlite MLflow store, and is judged as:
  clear      it stopped with exit status 2 and one `error: ...` sentence, no traceback (or, for a fault
             case, it recovered as it should);
  traceback  Python's traceback reached the console;
  silent     it exited 0 where it should have refused, or something it should never do happened (a
             crafted checkpoint ran code, a resumed search derived another architecture);
  unclear    any other ending (non-zero without a sentence).
Lost records counts the MLflow runs left RUNNING after their process ended and the runs of concurrent
jobs that never reached the store. Finished cases are kept in `<work>/results.jsonl` and skipped on a
re-run (delete the file, or a case's line, to try it again).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from mlflow import MlflowClient

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable, LutEntry
from micronas.space.opspec import OpSpec

ROOT = Path(__file__).resolve().parents[1]
QUIET = ("trainer.enable_progress_bar=false", "hydra.run.dir=run")
OUTCOMES = ("clear", "traceback", "silent", "unclear")
CONV = OpSpec("conv2d", (16, 5, 8), (16, 5, 16), (3, 1), (1, 1), "same", "relu")


class RunsCode:
    """Unpickling this creates the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def command(folder: Path, *args: str, timeout: float = 600, env: dict | None = None):
    """Run `python *args` in `folder` with its own MLflow store; the finished process."""
    own_store = args[0] != "-m" and not any(a.startswith("logger.tracking_uri=") for a in args)
    uri = [f"logger.tracking_uri=sqlite:///{folder / 'mlflow.db'}"] if own_store else []
    env = {**os.environ, "MICRONAS_DATA_DIR": str(folder.parent / "data"), **(env or {})}
    return subprocess.run([sys.executable, *args, *uri], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=env)


def search(folder: Path, *overrides: str, **kwargs):
    return command(folder, str(ROOT / "search.py"), "search.epochs=1", "++search.min_steps=0", *QUIET, *overrides, **kwargs)


def judge_refusal(result, about: str = "") -> str:
    """How a command that should have refused its input ended; a refusal whose sentence lacks `about`
    stopped for another reason (e.g. later, on a value it should never have accepted) and is unclear."""
    if "Traceback" in result.stderr:
        return "traceback"
    if result.returncode == 0:
        return "silent"
    last = (result.stderr.strip().splitlines() or [""])[-1]
    one_sentence = last.startswith("error: ") and last.endswith(".") and about in last
    return "clear" if result.returncode == 2 and one_sentence else "unclear"


def running_runs(folder: Path) -> int:
    """MLflow runs of `folder`'s store still marked RUNNING."""
    if not (folder / "mlflow.db").is_file():
        return 0
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return sum(r.info.status == "RUNNING" for r in client.search_runs(experiments)) if experiments else 0


# ---- fixtures the cases write ----------------------------------------------------------------------------


def crafted_checkpoint(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = RunsCode(path.parent / "RAN")
    torch.save({"epoch": payload, "micronas_search": payload, "state_dict": {}}, path)
    return path.parent / "RAN"


def npz(path: Path, **changes) -> Path:
    """A 60-window, 3-class .npz with `changes` (None drops a key)."""
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((60, 3, 20)).astype(np.float32), "y": np.arange(60) % 3} | changes
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def host_lut(path: Path, extra_line: bytes) -> Path:
    identity = DeviceIdentity.from_mcu(load_config("search", ["mcu=host"]).mcu)
    LookupTable(path, identity).append(LutEntry(op=CONV, samples_ms=(1.0, 1.1), source="bench"))
    with open(path, "ab") as handle:
        handle.write(extra_line + b"\n")
    return path


def other_device_line() -> bytes:
    identity = replace(DeviceIdentity.from_mcu(load_config("search", ["mcu=host"]).mcu), board="other-board")
    return json.dumps({"device": identity.tag(), **LutEntry(op=CONV, samples_ms=(0.01,)).to_json()}).encode()


def nan_sample_line() -> bytes:
    """A whole entry of this device whose timed runs are NaN."""
    identity = DeviceIdentity.from_mcu(load_config("search", ["mcu=host"]).mcu)
    record = LutEntry(op=CONV, samples_ms=(1.0,)).to_json()
    record["latency"]["samples_ms"] = [float("nan")]
    return json.dumps({"device": identity.tag(), **record}).encode()


def zip_bomb(path: Path, member: str, megabytes: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(member, "w") as stream:
        for _ in range(megabytes):
            stream.write(bytes(1 << 20))
    return path


# ---- the cases --------------------------------------------------------------------------------------------

def refused_override(*overrides, about: str = ""):
    return lambda folder: judge_refusal(search(folder, *overrides), about)


def refused_npz(**changes):
    return lambda folder: judge_refusal(
        search(folder, "dataset=npz", f"dataset.path={npz(folder / 'd.npz', **changes)}"))


def refused_lut(line: bytes):
    return lambda folder: judge_refusal(
        search(folder, "mcu=host", f"mcu.cost.lut_path={host_lut(folder / 'l.jsonl', line)}"),
        "l.jsonl line 3")


def refused_arch(content: bytes | None):
    def case(folder):
        path = folder / "architecture.json"
        if content is not None:
            path.write_bytes(content)
        return judge_refusal(command(folder, str(ROOT / "train.py"), f"arch={path}", "mcu=host", *QUIET))
    return case


def garbage_resume(folder):
    (folder / "g.ckpt").write_bytes(b"garbage")
    return judge_refusal(search(folder, f"ckpt_path={folder / 'g.ckpt'}"))


def crafted_resume(folder):
    marker = crafted_checkpoint(folder / "given" / "checkpoints" / "last.ckpt")
    outcome = judge_refusal(search(folder, f"ckpt_path={folder / 'given'}"), "refused unread")
    return "silent" if marker.exists() else outcome


def crafted_sweep_job(folder):
    job = folder / "multirun" / "0"
    marker = crafted_checkpoint(job / "checkpoints" / "last.ckpt")
    (job / "mlflow_run_id").write_text("0" * 32 + "\n")
    result = command(folder, str(ROOT / "search.py"), "-m", "search.epochs=1", "++search.min_steps=0",
                     "trainer.enable_progress_bar=false", f"hydra.sweep.dir={folder / 'multirun'}")
    if marker.exists():
        return "silent"
    error = job / "error.txt"
    refused = error.is_file() and "it was refused unread" in error.read_text()
    return "clear" if refused and "Traceback" not in result.stderr else judge_refusal(result)


def other_mcu_resume(folder):
    first = search(folder, "hydra.run.dir=l552")
    if first.returncode != 0:
        return "unclear"
    return judge_refusal(
        search(folder, "mcu=nucleo_f446re", f"ckpt_path={folder / 'l552'}", "hydra.run.dir=f446"),
        "another dataset or MCU")


def zip_bomb_archive(folder):
    archive = zip_bomb(folder / "data" / "skodar" / "skodaminicp_2015_08.zip",
                       "SkodaMiniCP_2015_08/right_classall_clean.mat", 64)
    result = search(folder, "dataset=skodar", "dataset.sha256=null", f"data_dir={archive.parents[1]}")
    return judge_refusal(result, "unpacks to")


def concurrent_first_runs(folder, jobs: int = 4):
    """`jobs` searches started together on a new store: (outcome, lost records)."""
    processes = [subprocess.Popen(
        [sys.executable, str(ROOT / "search.py"), "search.epochs=1", "++search.min_steps=0", "trainer.enable_progress_bar=false",
         f"hydra.run.dir=run{i}", f"seed={i}", f"logger.tracking_uri=sqlite:///{folder / 'mlflow.db'}"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MICRONAS_DATA_DIR": str(folder.parent / "data")}) for i in range(jobs)]
    errors = [p.communicate(timeout=900)[1] for p in processes]
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    recorded = len(client.search_runs([e.experiment_id for e in client.search_experiments()]))
    lost = jobs - recorded
    if any("Traceback" in e for e in errors):
        return "traceback", lost
    return ("clear" if lost == 0 and all(p.returncode == 0 for p in processes) else "silent"), lost


def killed_and_resumed(folder, sig=signal.SIGKILL):
    """A search killed in its second epoch and resumed derives what an uninterrupted one derives."""
    whole = search(folder, "search.epochs=3", "++search.min_steps=0", "hydra.run.dir=whole")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "search.py"), "search.epochs=3", "++search.min_steps=0", "trainer.enable_progress_bar=false",
         "hydra.run.dir=killed", f"logger.tracking_uri=sqlite:///{folder / 'mlflow.db'}"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MICRONAS_DATA_DIR": str(folder.parent / "data")})
    checkpoint = folder / "killed" / "checkpoints" / "last.ckpt"
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(sig)
    process.communicate(timeout=300)
    if sig == signal.SIGINT:
        client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
        run_id = (folder / "killed" / "mlflow_run_id").read_text().strip()
        if client.get_run(run_id).info.status != "KILLED":
            return "silent"
    resumed = search(folder, "search.epochs=3", "++search.min_steps=0", f"ckpt_path={folder / 'killed'}", "hydra.run.dir=killed")
    if whole.returncode or resumed.returncode:
        return "traceback" if "Traceback" in whole.stderr + resumed.stderr else "unclear"
    found = [json.loads((folder / run / "summary.json").read_text())["architecture"]
             for run in ("whole", "killed")]
    return "clear" if found[0] == found[1] else "silent"


def board_restarting_on_every_run(folder, run_timeout_s: float = 5.0):
    """`micronas.hardware.measure` on the virtual board with every RUN restarting it: one sentence, and
    given up within the bound the configured timeouts set (two RUN timeouts and two uploads)."""
    import keras

    from micronas.export.convert import to_int8_tflite

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 3, 1))
    x = keras.layers.Conv2D(4, (3, 1), padding="same", activation="relu")(inputs)
    outputs = keras.layers.Softmax()(keras.layers.GlobalAveragePooling2D()(x))
    windows = np.random.default_rng(0).normal(size=(8, 16, 3, 1)).astype(np.float32)
    model = folder / "model.tflite"
    model.write_bytes(to_int8_tflite(keras.Model(inputs, outputs), windows))
    board = subprocess.Popen([sys.executable, "-m", "micronas.hardware.virtual_board"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        port = board.stdout.readline().strip()
        board.stdin.write("reset-on-run 1000\n")
        board.stdin.flush()
        board.stdout.readline()
        started = time.monotonic()
        result = command(folder, "-m", "micronas.hardware.measure", str(model), "mcu=host",
                         "mcu.device.kind=serial", f"mcu.device.port={port}",
                         f"mcu.device.run_timeout_s={run_timeout_s}")
        waited = time.monotonic() - started
    finally:
        board.terminate()
        board.wait(timeout=10)
    outcome = judge_refusal(result, "restarted 2 times during RUN")
    return outcome if outcome != "clear" or waited < 2 * run_timeout_s + 30 else "unclear"


CASES = {
    "budget negative": refused_override("constraints.latency=-5"),
    "budget nan": refused_override("constraints.latency=nan"),
    "budget inf": refused_override("constraints.latency=inf"),
    "memory over the board's SRAM": refused_override("constraints.memory=100000"),
    "budget below the cheapest network": refused_override("constraints.latency=0.5"),
    "search.epochs=0": refused_override("search.epochs=0"),
    "search.method=foo": refused_override("search.method=foo"),
    "dataset.batch_size=0": refused_override("dataset.batch_size=0"),
    "tracking_uri bogus://x": refused_override("logger.tracking_uri=bogus://x"),
    "unknown dataset": refused_override("dataset=nosuch"),
    "unknown mcu": refused_override("mcu=nosuch"),
    "ckpt_path missing": refused_override("ckpt_path=nowhere.ckpt"),
    "ckpt_path garbage": garbage_resume,
    "ckpt_path crafted pickle": crafted_resume,
    "crafted checkpoint in a re-run sweep job": crafted_sweep_job,
    "checkpoint of another mcu": other_mcu_resume,
    "npz one class": refused_npz(y=np.zeros(60, dtype=np.int64)),
    "npz NaN in X": refused_npz(X=np.full((60, 3, 20), np.nan, dtype=np.float32)),
    "npz text subject ids": refused_npz(subjects=np.array(["s"] * 60)),
    "npz without y": refused_npz(y=None),
    "lut line of another device": refused_lut(other_device_line()),
    "lut line not UTF-8": refused_lut(b"\xff\xfe"),
    "lut line NaN sample": refused_lut(nan_sample_line()),
    "lut line a JSON list": refused_lut(b"[1, 2]"),
    "architecture binary": refused_arch(b"\x89PNG\r\n\x1a\n\x00\xff"),
    "architecture a JSON list": refused_arch(b"[1, 2]"),
    "architecture missing": refused_arch(None),
    "skodar zip bomb": zip_bomb_archive,
    "skodar unpinned plain http": refused_override("dataset=skodar", "dataset.url=http://127.0.0.1:9/a.zip",
                                                   about="plain HTTP"),
    "report bogus tracking uri": lambda f: judge_refusal(command(
        f, "-m", "micronas.report", "x", "--tracking-uri", "bogus://x")),
    "board restarting on every RUN": board_restarting_on_every_run,
    "four searches on a new store": concurrent_first_runs,
    "search SIGKILLed and resumed": killed_and_resumed,
    "search Ctrl-C then resumed": lambda f: killed_and_resumed(f, signal.SIGINT),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench-reliability")
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "results.jsonl"
    done = {r["case"]: r for r in map(json.loads, results_file.read_text().splitlines())} \
        if results_file.is_file() else {}
    chosen = [name for name in CASES if not args.only or name in args.only.split(",")]
    for index, name in enumerate(chosen):
        if name in done:
            continue
        folder = args.work / f"case{index:02d}"
        shutil.rmtree(folder, ignore_errors=True)   # what an earlier, unfinished try left
        folder.mkdir()
        started = time.monotonic()
        outcome = CASES[name](folder)
        outcome, lost = outcome if isinstance(outcome, tuple) else (outcome, 0)
        record = {"case": name, "outcome": outcome, "lost_records": lost + running_runs(folder),
                  "seconds": round(time.monotonic() - started, 1)}
        done[name] = record
        with open(results_file, "a") as stream:
            stream.write(json.dumps(record) + "\n")
        print(f"{name:45s} {outcome:10s} lost {record['lost_records']}  ({record['seconds']} s)", flush=True)
    results = [done[name] for name in chosen if name in done]
    counts = {outcome: sum(r["outcome"] == outcome for r in results) for outcome in OUTCOMES}
    seconds = sorted(r["seconds"] for r in results)
    print(f"\ncases tried {len(results)}: clear errors {counts['clear']}, tracebacks {counts['traceback']}, "
          f"silent results {counts['silent']}, unclear {counts['unclear']}, "
          f"lost records {sum(r['lost_records'] for r in results)}; "
          f"median case {seconds[len(seconds) // 2] if seconds else 0} s")
    for r in results:
        if r["outcome"] != "clear" or r["lost_records"]:
            print(f"  not clear: {r['case']} ({r['outcome']}, lost {r['lost_records']})")


if __name__ == "__main__":
    main()
