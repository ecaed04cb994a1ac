import os
import uuid

import pytest

from reefdask.errors import InputNotFoundError
from reefdask.io.storage import exists, filesystem, join, read_bytes, write_bytes_atomic


def test_local_atomic_write_leaves_no_temporaries(tmp_path):
    url = str(tmp_path / "a" / "b.json")
    write_bytes_atomic(url, b"one")
    write_bytes_atomic(url, b"two")
    assert read_bytes(url) == b"two"
    assert os.listdir(tmp_path / "a") == ["b.json"]
    assert exists(url) and exists(f"file://{url}")


def test_memory_urls_round_trip():
    url = f"memory://reefdask-test-{uuid.uuid4().hex}/x/y.bin"
    assert not exists(url)
    write_bytes_atomic(url, b"\x00\x01")
    assert read_bytes(url) == b"\x00\x01"


def test_missing_object_names_the_url(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read_bytes(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError):  # the builtin still catches it
        read_bytes(str(tmp_path / "nope"))


@pytest.mark.gcs
def test_gcs_emulator_round_trip(gcs_bucket):
    url = join(gcs_bucket, "dir", "obj.txt")
    write_bytes_atomic(url, b"reef")
    assert read_bytes(url) == b"reef"
    fs, path = filesystem(gcs_bucket)
    fs.invalidate_cache()
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(join(path, "dir"))] == ["obj.txt"]
