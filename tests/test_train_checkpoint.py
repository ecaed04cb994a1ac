"""Checkpoint state reading cleans what a killed save left (no TensorFlow needed)."""

from __future__ import annotations

import json
import os

from reefdask.io.store import temp_name
from reefdask.train.checkpoint import load_state


def test_load_state_removes_a_killed_saves_temporaries(tmp_path):
    ck = tmp_path / "checkpoint"
    ck.mkdir()
    (ck / "epoch-0001.keras").write_bytes(b"model")
    (ck / "state.json").write_text(json.dumps({"epoch": 1, "model": "epoch-0001.keras"}))
    dead = ck / temp_name("epoch-0002.keras").replace(f"-{os.getpid()}-", "-999999999-")
    dead.mkdir()
    (dead / "epoch-0002.keras").write_bytes(b"half a model")
    legacy = ck / ".tmp-epoch-0002.keras"  # the old name: removed once it is old
    legacy.write_bytes(b"half")
    os.utime(legacy, (0, 0))
    assert load_state(ck) == {"epoch": 1, "model": "epoch-0001.keras"}
    assert sorted(os.listdir(ck)) == ["epoch-0001.keras", "state.json"]
