"""Both notebooks execute top to bottom with nbclient on the tiny sweep."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, env: dict) -> list[str]:
    """Run `notebooks/<name>.ipynb` in a fresh kernel with `env`; return the text of its outputs."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)   # the kernel inherits this process's environment
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return texts


def test_compare_runs_notebook_reports_the_sweep(tiny_sweep, tmp_path):
    texts = execute("compare_runs", {"MICRONAS_TRACKING_URI": tiny_sweep.tracking_uri,
                                     "MICRONAS_REPORT_TARGET": tiny_sweep.parent_run_id,
                                     "MICRONAS_REPORT_OUT": str(tmp_path)})
    assert any("Pareto front, accuracy vs latency:" in text for text in texts)
    assert any("no retrain run has measured these architectures yet" in text for text in texts)
    assert (tmp_path / tiny_sweep.parent_run_id / "pareto_arena_nucleo_l552.png").is_file()


@pytest.mark.parametrize("reference", ["present", "absent"])
def test_estimator_error_notebook_runs_with_and_without_the_reference_measurements(tmp_path, reference):
    root = NOTEBOOKS.parent if reference == "present" else tmp_path / "main"
    if reference == "present" and not (root.parent / "shared/reference/mcu-measurements").is_dir():
        pytest.skip("../shared/reference/mcu-measurements is not in this checkout")
    texts = execute("estimator_error", {"MICRONAS_ROOT": str(root), "MICRONAS_MEMORY_SAMPLES": "10"})
    skipped = any("is absent; the latency predictor section is skipped" in text for text in texts)
    assert skipped == (reference == "absent")
    assert any(text.startswith("n=10 R^2=") for text in texts)
