"""`--help` on every entry point: exit status 0, the command's own one-line purpose, and a short page."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["search.py", "train.py"]


def entry_points() -> list[str]:
    """`search.py`, `train.py` and every `python -m micronas.X` (a `__main__.py` or a module that runs
    itself), found in the source so that a new command is covered without editing this test."""
    found = []
    for path in sorted((ROOT / "micronas").rglob("*.py")):
        text = path.read_text()
        if path.name == "__main__.py" or re.search(r'^if __name__ == "__main__":', text, re.MULTILINE):
            module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            found.append(module.removesuffix(".__main__"))
    return SCRIPTS + found


def purpose(entry: str) -> str:
    """The opening clause of the entry point's docstring (to its first `:`, `(` or `,`): what it does."""
    path = ROOT / entry if entry.endswith(".py") else ROOT / entry.replace(".", "/")
    if not entry.endswith(".py"):
        path = path / "__main__.py" if path.is_dir() else path.with_suffix(".py")
    doc = ast.get_docstring(ast.parse(path.read_text()))
    return re.split(r"[:(,]", " ".join(doc.split()).split(". ")[0])[0].strip()


def test_every_entry_point_is_found():
    assert {"search.py", "train.py", "micronas.data", "micronas.space", "micronas.report",
            "micronas.profiling.profile", "micronas.cost.calibrate"} <= set(entry_points())


@pytest.mark.parametrize("entry", entry_points())
def test_help_says_what_the_command_does_on_one_short_page(entry, tmp_path):
    command = [sys.executable, str(ROOT / entry)] if entry.endswith(".py") else [sys.executable, "-m", entry]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    page = result.stdout
    assert " ".join(purpose(entry).split()).lower() in " ".join(page.split()).lower()
    assert len(page.splitlines()) <= 45, page       # no config dump (the predictor's coefficients)
    assert "coefficients" not in page and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())             # --help runs nothing: no outputs/, no mlflow.db
