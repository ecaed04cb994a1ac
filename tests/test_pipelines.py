from pathlib import Path

import pytest

from pipelines import STAGES, config_model
from reefdask.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "pipelines" / "configs"


def test_every_example_config_has_a_stage():
    stems = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert stems <= set(STAGES), stems - set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_example_config_validates(stage):
    path = CONFIGS / f"{stage}.yaml"
    assert path.exists(), f"stage {stage} has no example config"
    load_config(str(path), config_model(stage))
