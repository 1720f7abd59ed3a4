"""`experiment=paper_ucihar` / `paper_skodar`: the paper's settings compose in one line, with their sweep."""

import pytest
from hydra import compose, initialize_config_dir

from micronas.config import CONF_DIR


@pytest.mark.parametrize("experiment, dataset, protocol", [("paper_ucihar", "ucihar", "official-subject"),
                                                          ("paper_skodar", "skodar", "temporal")])
def test_paper_experiments_compose_with_their_latency_sweep(compose, experiment, dataset, protocol):
    cfg = compose(f"experiment={experiment}")
    assert (cfg.dataset.name, cfg.dataset.protocol, cfg.mcu.name) == (dataset, protocol, "nucleo_l552")
    assert cfg.search.method == "dnas"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        full = compose_with_hydra(experiment)
    assert full.hydra.sweeper.params["constraints.latency"] == "25,50"
    assert full.hydra.callbacks.sweep_parent_run._target_ == "micronas.tracking.sweep.SweepParentRun"


def compose_with_hydra(experiment):
    return compose(config_name="search", overrides=[f"experiment={experiment}", "search=darts"],
                   return_hydra_config=True)
