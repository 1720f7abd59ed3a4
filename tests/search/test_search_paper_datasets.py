"""A search end to end on the paper's datasets, from fixture archives in the exact release layouts."""

import hashlib

import numpy as np
import pytest

from micronas.data import ucihar
from micronas.data.synthetic import skoda_archive_bytes, skoda_matrix, ucihar_members, zip_bytes
from micronas.search.search_run import run_search
from micronas.space.architecture import Architecture


def place_ucihar(data_dir) -> list[str]:
    inner = zip_bytes(ucihar_members([1, 3, 5, 6, 7], [2, 4], 60, 24))
    (data_dir / "ucihar").mkdir(parents=True)
    (data_dir / "ucihar" / ucihar.INNER_ARCHIVE).write_bytes(inner)
    return ["dataset=ucihar", "dataset.url=http://127.0.0.1:9/offline",
            f"dataset.inner_sha256={hashlib.sha256(inner).hexdigest()}"]


def place_skodar(data_dir) -> list[str]:
    rng = np.random.default_rng(0)
    segments = [(label, int(rng.integers(150, 250))) for _ in range(8) for gesture in range(48, 58)
                for label in (32, gesture)]
    (data_dir / "skodar").mkdir(parents=True)
    (data_dir / "skodar" / "skodaminicp_2015_08.zip").write_bytes(skoda_archive_bytes(skoda_matrix(segments)))
    return ["dataset=skodar"]


@pytest.mark.parametrize("place, shape", [(place_ucihar, (128, 9, 6)), (place_skodar, (64, 30, 10))])
def test_a_dnas_search_runs_on_paper_dataset_fixtures(compose, mlflow_uri, tmp_path, place, shape):
    overrides = place(tmp_path / "data")
    cfg = compose(*overrides, "search.epochs=1", "++search.min_steps=0", "constraints.latency=100",
                  f"logger.tracking_uri={mlflow_uri}",
                  "trainer.enable_progress_bar=false")
    summary = run_search(cfg, tmp_path / "run")
    arch = Architecture.load(tmp_path / "run" / "architecture.json")
    assert (*arch.input_shape, arch.num_classes) == shape
    assert summary["protocol"].split()[0] in {"official-subject", "temporal"}
    assert summary["predicted"]["latency_ms"] > 0 and "latency" in summary["constraints"]
