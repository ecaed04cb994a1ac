"""Training records completion in the work layer's format; a live fit's outdir is claimed."""

from __future__ import annotations

import json
import shutil

import pytest
from test_train_samples import make_scene

from reefdask.errors import StoreError
from reefdask.train.config import SamplesConfig, TrainConfig
from reefdask.train.samples import build_samples

pytestmark = pytest.mark.tf


@pytest.mark.slow
def test_fit_completion_is_a_work_record(tmp_path):
    from reefdask.train.fit import _work, finished_result, train

    scenes = [make_scene(tmp_path, f"s{i}", size=96, seed=i) for i in range(2)]
    samples = SamplesConfig(store=str(tmp_path / "s.zarr"), scenes=scenes, window_radius=16,
                            loss_window_radius=8, stride=16, n_folds=3, validation_fold=0, test_fold=None,
                            fold_block=32, max_samples=60, chunk_samples=16)  # fmt: skip
    build_samples(samples)
    out = tmp_path / "run"
    cfg = TrainConfig(samples=samples.store, outdir=str(out), name="tiny", epochs=1, batch_size=4,
                      steps_per_epoch=2, architecture={"name": "unet", "filters": 4, "blocks": [1, 1]},
                      tensorboard=False, reef_decision="none", seed=1)  # fmt: skip

    # another live run holds the outdir: refused before anything is written
    claim = _work(out).claim("tiny")
    try:
        with pytest.raises(StoreError, match="being trained by"):
            train(cfg)
    finally:
        claim.release()
    assert not (out / "run.json").exists()

    result = train(cfg)
    done = json.loads((out / "_work" / "tiny.done.json").read_bytes())
    assert done["status"] == "done" and done["info"]["model"] == result.model
    assert (out / "checkpoint" / "state.json").exists()  # checkpoints stay: they are resume state
    assert finished_result(cfg) is not None and train(cfg).skipped

    # model and card without the record (a run killed after saving them): not finished
    (out / "_work" / "tiny.done.json").unlink()
    assert finished_result(cfg) is None
    # a fit finished before the work layer (no _work/ at all): run.json + model + card still count
    shutil.rmtree(out / "_work")
    assert finished_result(cfg) is not None
