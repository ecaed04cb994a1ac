import pytest

from reefdask.config import IngestConfig, SynthConfig, config_hash, load_config
from reefdask.errors import ConfigError


def test_yaml_file_loads(tmp_path):
    p = tmp_path / "synth.yaml"
    p.write_text("outdir: out\nquads: 9\nseed: 3\n")
    cfg = load_config(str(p), SynthConfig)
    assert (cfg.outdir, cfg.quads, cfg.seed, cfg.size) == ("out", 9, 3, 512)


def test_unknown_key_named_with_path_and_suggestion():
    with pytest.raises(ConfigError) as err:
        load_config({"sources": ["a.tif"], "store": "s.zarr", "chunks": 512}, IngestConfig)
    text = str(err.value)
    assert "chunks: unknown key" in text and "did you mean 'chunk'" in text


def test_wrong_type_and_missing_key():
    with pytest.raises(ConfigError) as err:
        load_config({"outdir": "x", "quads": "many"}, SynthConfig)
    assert "quads:" in str(err.value) and "'many'" in str(err.value)
    with pytest.raises(ConfigError, match="outdir: required key is missing"):
        load_config({}, SynthConfig)
    with pytest.raises(ValueError):  # the builtin matches too
        load_config({"outdir": "x", "size": 1}, SynthConfig)


def test_bad_yaml_and_non_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("outdir: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad), SynthConfig)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(lst), SynthConfig)


def test_config_hash_is_stable_and_sensitive():
    a = load_config({"outdir": "x"}, SynthConfig)
    b = load_config({"outdir": "x", "quads": 4}, SynthConfig)
    c = load_config({"outdir": "x", "quads": 5}, SynthConfig)
    assert config_hash(a) == config_hash(b) == a.hash()
    assert config_hash(a) != config_hash(c)
