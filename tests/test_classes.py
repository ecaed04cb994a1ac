from __future__ import annotations

import copy
import pickle

import dask.array as dsa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reefdask.config import load_schema
from reefdask.core.classes import ClassSchema, default_schema
from reefdask.errors import InputNotFoundError, ReefdaskError, SchemaError

DETAILED = [
    "land",
    "terrestrial water",
    "deep water",
    "shallow lagoon water",
    "forereef",
    "shallow reef flat",
    "variable reef flat",
    "pinnacles",
    "non-reef shallow",
    "non-reef variable",
    "non-reef deep",
    "supplementary land",
    "supplementary water",
    "cloud",
]

SMALL = """
name: reef-or-not
levels:
  detailed:
    - {code: 1, name: water, color: "#1f4e8c", reef: not reef}
    - {code: 2, name: coral, color: "#ff7f50", reef: reef}
  reef:
    - {code: 0, name: not reef, color: "#000000"}
    - {code: 1, name: reef, color: "#ffffff"}
"""


def test_default_schema_codes_names_levels():
    s = default_schema()
    assert s.codes == tuple(range(1, 15))
    assert list(s.names) == DETAILED
    assert s.n_classes == 14
    assert s.levels == ("detailed", "coarse", "reef")
    assert s.level_codes("coarse") == (1, 2, 3, 4, 5)
    assert s.level_names("coarse") == ("land", "water", "reef", "non-reef", "cloud")
    assert s.level_codes("reef") == (0, 1)
    assert s.level_names("reef") == ("not reef", "reef")
    assert all(c.startswith("#") and len(c) == 7 for c in s.colors)
    assert len(s.level_colors("coarse")) == 5
    assert s.index_of_code == {c: c - 1 for c in range(1, 15)}


def test_default_coarse_mapping_follows_reference_practice():
    s = default_schema()
    lut = s.lut("coarse")
    coarse = s.level_names("coarse")
    group = {name: coarse[lut[code] - 1] for name, code in zip(s.names, s.codes, strict=True)}
    assert group["shallow lagoon water"] == "reef"
    assert {n for n, g in group.items() if g == "reef"} == {
        "shallow lagoon water",
        "forereef",
        "shallow reef flat",
        "variable reef flat",
        "pinnacles",
    }
    assert {n for n, g in group.items() if g == "non-reef"} == {
        "non-reef shallow",
        "non-reef variable",
        "non-reef deep",
    }
    assert group["supplementary land"] == "land" and group["land"] == "land"
    assert group["supplementary water"] == "water" and group["terrestrial water"] == "water"
    assert group["deep water"] == "water" and group["cloud"] == "cloud"


def test_lut_unknown_codes_are_nodata():
    s = default_schema()
    lut = s.lut("reef")
    assert lut.shape == (256,) and lut.dtype == np.uint8
    assert lut[0] == 255 and lut[15] == 255 and lut[255] == 255
    assert lut[s.code_of("cloud")] == 255  # cloud -> nodata at the reef level
    assert lut[s.code_of("forereef")] == 1 and lut[s.code_of("land")] == 0
    lut16 = s.lut("coarse", nodata=-9999)
    assert lut16.dtype == np.int16 and lut16[0] == -9999 and lut16[1] == 1
    assert (s.lut("detailed")[1:15] == np.arange(1, 15)).all()
    assert s.lut("reef", nodata=65535).dtype == np.int32


def test_remap_numpy_handles_nodata_values():
    s = default_schema()
    labels = np.array([[1, 4, 14, -9999], [255, 9, 3, 0]], dtype="int16")
    assert s.remap(labels, "coarse").tolist() == [[1, 3, 5, 255], [255, 4, 2, 255]]
    assert s.remap(labels, "reef", nodata=-9999).tolist() == [[0, 1, -9999, -9999], [-9999, 0, 0, -9999]]
    # a given source nodata that would otherwise be a valid code
    assert s.remap(np.array([3, 4]), "reef", src_nodata=3).tolist() == [255, 1]
    floats = np.array([1.0, np.nan, 5.0])
    assert s.remap(floats, "coarse").tolist() == [1, 255, 3]
    assert s.remap(np.array([1, 3, 5]), "reef", from_level="coarse").tolist() == [0, 1, 255]


def test_remap_dask_stays_lazy_and_matches_numpy():
    s = default_schema()
    rng = np.random.default_rng(0)
    a = rng.integers(-2, 17, size=(40, 30)).astype("int16")
    a[0, :5] = -9999
    d = dsa.from_array(a, chunks=(16, 16))
    out = s.remap(d, "coarse")
    assert isinstance(out, dsa.Array) and out.dtype == np.uint8
    np.testing.assert_array_equal(out.compute(), s.remap(a, "coarse"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-10000, 300), min_size=1, max_size=50))
def test_reef_equals_coarse_then_reef(values):
    s = default_schema()
    a = np.array(values, dtype="int32")
    direct = s.remap(a, "reef")
    via = s.remap(s.remap(a, "coarse"), "reef", from_level="coarse")
    np.testing.assert_array_equal(direct, via)


def test_group_matrix_sums_probabilities():
    s = default_schema()
    m = s.group_matrix("coarse")
    assert m.shape == (5, 14) and set(np.unique(m)) == {0.0, 1.0}
    assert (m.sum(axis=0) == 1).all()  # every detailed class in exactly one coarse group
    p = np.random.default_rng(1).dirichlet(np.ones(14), size=7).T  # (14, 7)
    np.testing.assert_allclose((m @ p).sum(axis=0), 1.0, rtol=1e-6)
    r = s.group_matrix("reef")
    assert r.shape == (2, 14) and r[:, s.index_of_code[s.code_of("cloud")]].sum() == 0


def test_yaml_dict_roundtrip_and_fingerprint(tmp_path):
    s = default_schema()
    again = ClassSchema.from_yaml(s.to_yaml())
    assert again == s and again.fingerprint == s.fingerprint
    assert ClassSchema.from_dict(s.to_dict()) == s
    assert len(s.fingerprint) == 16 and int(s.fingerprint, 16) >= 0
    assert pickle.loads(pickle.dumps(s)) == s
    d = copy.deepcopy(s.to_dict())
    d["levels"]["detailed"][3]["coarse"] = "water"  # lagoon no longer reef
    assert ClassSchema.from_dict(d).fingerprint != s.fingerprint
    d2 = copy.deepcopy(s.to_dict())
    d2["description"] = "only words differ"
    assert ClassSchema.from_dict(d2).fingerprint == s.fingerprint
    path = tmp_path / "s.yaml"
    path.write_text(s.to_yaml())
    assert load_schema(path) == s and load_schema(str(path)) == s
    assert load_schema("default") is s and load_schema(s) is s and load_schema(s.to_dict()) == s


def test_short_yaml_declares_a_new_schema():
    s = ClassSchema.from_yaml(SMALL)
    assert s.codes == (1, 2) and s.levels == ("detailed", "reef")
    assert s.remap(np.array([1, 2, 7]), "reef").tolist() == [0, 1, 255]
    assert s.colormap("reef") == {0: (0, 0, 0, 255), 1: (255, 255, 255, 255)}


def test_load_schema_from_memory_url():
    import fsspec

    with fsspec.open("memory://schemas/small.yaml", "w") as f:
        f.write(SMALL)
    assert load_schema("memory://schemas/small.yaml").name == "reef-or-not"


def test_load_schema_missing_path(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        load_schema(tmp_path / "nope.yaml")


def _broken(edit):
    d = default_schema().to_dict()
    edit(d)
    return d


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["levels"]["detailed"][1].update(code=1), r"'terrestrial water'.*already used by 'land'"),
        (lambda d: d["levels"]["detailed"][0].update(coarse="lnad"), r"'land'.*coarse group 'lnad'.*one of"),
        (lambda d: d["levels"]["detailed"][0].update(code=255), r"'land'.*outside 0\.\.254"),
        (lambda d: d["levels"]["detailed"][0].update(code=-1), r"outside 0\.\.254"),
        (lambda d: d["levels"]["detailed"][0].update(color="brown"), r"'land'.*'brown'.*#rrggbb"),
        (lambda d: d["levels"]["detailed"][0].update(color="#12345"), r"#rrggbb"),
        (lambda d: d["levels"]["detailed"][0].update(code="1"), r"not an integer"),
        (lambda d: d["levels"]["detailed"][0].pop("coarse"), r"add 'coarse: <name>'"),
        (lambda d: d["levels"]["detailed"][0].update(colour="#000000"), r"unknown keys \['colour'\]"),
        (lambda d: d["levels"]["reef"][1].update(name="not reef"), r"name is used twice"),
        (lambda d: d.update(nodata=1), r"nodata"),
        (lambda d: d.update(level={}), r"Unknown schema keys"),
        (lambda d: d.update(levels={}), r"'levels'"),
    ],
)
def test_invalid_schemas_name_the_entry_and_fix(edit, match):
    with pytest.raises(SchemaError, match=match):
        ClassSchema.from_dict(_broken(edit))


def test_bad_yaml_and_unknown_level():
    with pytest.raises(SchemaError, match="not valid YAML"):
        ClassSchema.from_yaml("levels: [unclosed")
    s = default_schema()
    with pytest.raises(SchemaError, match="Unknown class level 'habitat'"):
        s.level_codes("habitat")
    with pytest.raises(SchemaError, match="coarser level"):
        s.lut("detailed", from_level="coarse")
    with pytest.raises(ReefdaskError, match="No class named"):
        s.code_of("kelp")
