"""The remote-model cache: verified by weights digest, in a private per-user folder."""

from __future__ import annotations

import io
import os
import stat
import tempfile
import uuid
import zipfile

import pytest

from reefdask.errors import FingerprintMismatchError
from reefdask.io.store import open_store
from reefdask.model.fingerprint import weights_digest
from reefdask.predict.model import _local_copy


def keras_archive(weights: bytes) -> bytes:
    """A .keras-shaped zip (config + weights + a save date that the digest ignores)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", '{"class_name": "Sequential"}')
        zf.writestr("model.weights.h5", weights)
        zf.writestr("metadata.json", f'{{"date_saved": "{uuid.uuid4().hex}"}}')
    return buf.getvalue()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _remote_model(url: str) -> tuple[str, str, bytes]:
    data = keras_archive(os.urandom(256))
    store = open_store(url)
    store.publish("m.keras", data)
    model = store.url_for("m.keras")
    return model, weights_digest(model)[:16], data


def test_a_planted_cache_file_is_replaced_by_the_real_model(private_tmp):
    model, fp, data = _remote_model(f"memory://models-{uuid.uuid4().hex[:8]}")
    path = _local_copy(model, fp, None)
    folder = os.path.dirname(path)
    st = os.stat(folder)
    assert folder == str(private_tmp / f"reefdask-models-{os.getuid()}") and st.st_uid == os.getuid()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert open(path, "rb").read() == data
    with open(path, "wb") as f:  # an attacker (or a crash) leaves other weights under the name
        f.write(keras_archive(b"planted weights"))
    again = _local_copy(model, fp, None)
    assert again == path and open(again, "rb").read() == data
    assert sorted(os.listdir(folder)) == [os.path.basename(path)]  # no temporary left


def test_a_model_changed_since_planning_is_refused_and_not_cached(private_tmp):
    url = f"memory://models-{uuid.uuid4().hex[:8]}"
    model, fp, _ = _remote_model(url)
    open_store(url).publish("m.keras", keras_archive(b"other weights"))  # replaced after planning
    with pytest.raises(FingerprintMismatchError, match="plan the run again"):
        _local_copy(model, fp, None)
    assert os.listdir(private_tmp / f"reefdask-models-{os.getuid()}") == []


def test_a_cache_folder_that_is_not_ours_is_not_used(private_tmp):
    elsewhere = private_tmp / "someone-elses"
    elsewhere.mkdir()
    (private_tmp / f"reefdask-models-{os.getuid()}").symlink_to(elsewhere)
    model, fp, data = _remote_model(f"memory://models-{uuid.uuid4().hex[:8]}")
    path = _local_copy(model, fp, None)
    assert not path.startswith(str(elsewhere)) and os.listdir(elsewhere) == []
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700 and open(path, "rb").read() == data


def test_loose_permissions_are_tightened(private_tmp):
    folder = private_tmp / f"reefdask-models-{os.getuid()}"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    model, fp, _ = _remote_model(f"memory://models-{uuid.uuid4().hex[:8]}")
    _local_copy(model, fp, None)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


@pytest.mark.gcs
def test_models_in_a_bucket_are_cached_verified(private_tmp, gcs_bucket):
    model, fp, data = _remote_model(f"{gcs_bucket}/models")
    path = _local_copy(model, fp, None)
    assert open(path, "rb").read() == data and _local_copy(model, fp, None) == path


def test_local_models_are_used_in_place(tmp_path):
    p = tmp_path / "m.keras"
    p.write_bytes(keras_archive(b"w"))
    assert _local_copy(f"file://{p}", weights_digest(str(p))[:16], None) == str(p)
