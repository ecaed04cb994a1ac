"""The one vectorised lookup (reefdask.core.lut) behind the schema's tables, training labels and clean."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reefdask.core.classes import default_schema
from reefdask.core.lut import apply_lut, index_lut, lookup_values, value_key


@settings(max_examples=80, deadline=None)
@given(
    values=arrays("int32", (4, 5), elements=st.integers(-20000, 400)),
    table=arrays("uint8", 256, elements=st.integers(0, 255)),
    src_nodata=st.sampled_from([None, 7, -9999]),
)
def test_apply_lut_is_an_elementwise_table_lookup(values, table, src_nodata):
    got = apply_lut(values, table, src_nodata, fill=255)
    want = [255 if (v < 0 or v > 255 or v == src_nodata) else int(table[v]) for v in values.ravel().tolist()]
    assert got.dtype == table.dtype and got.ravel().tolist() == want


@settings(max_examples=40, deadline=None)
@given(values=arrays("float64", 12, elements=st.one_of(st.floats(-3, 300), st.just(np.nan))))
def test_floats_that_are_not_whole_codes_are_nodata(values):
    table = np.arange(256).astype("int16")
    got = apply_lut(values, table, fill=-1).tolist()
    want = [int(v) if (np.isfinite(v) and v == int(v) and 0 <= v < 256) else -1 for v in values.tolist()]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(
    values=arrays("float64", (3, 7), elements=st.sampled_from([1.0, 2.0, 2.5, -9999.0, 40.0, np.nan])),
    mapping=st.dictionaries(st.sampled_from(["1", "2", "2.5", "40", "nan"]), st.integers(1, 14)),
)
def test_lookup_values_equals_a_dict_lookup_per_element(values, mapping):
    got = lookup_values(values, mapping, default=-9999)
    want = np.array([mapping.get(value_key(v), -9999) for v in values.ravel().tolist()]).reshape(3, 7)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int16


def test_value_keys_and_object_attributes():
    assert [value_key(v) for v in (1.0, np.float32(2.0), np.int64(3), "Reef", 2.5)] == [
        "1",
        "2",
        "3",
        "Reef",
        "2.5",
    ]
    attrs = np.array(["Reef", None, 3.0, "Sand"], dtype=object)  # mixed attribute values (pyogrio)
    assert lookup_values(attrs, {"Reef": 5, "3": 9}, -9999).tolist() == [5, -9999, 9, -9999]


def test_schema_tables_use_it():
    s = default_schema()
    lut = s.channel_lut()
    np.testing.assert_array_equal(lut, index_lut(s.codes))
    assert [int(lut[c]) for c in s.codes] == list(range(s.n_classes)) and lut[0] == 255 and lut[255] == 255
    codes = np.array([[1, 4, 14, -9999], [2, 5, 255, 300]], "int16")
    assert s.remap(codes, "reef").tolist() == [[0, 1, 255, 255], [0, 1, 255, 255]]
    assert s.remap(np.array([1.5, 1.0]), "reef").tolist() == [255, 0]  # 1.5 is no code


@settings(max_examples=60, deadline=None)
@given(
    values=arrays("int16", (4, 6), elements=st.sampled_from([-9999, -1, 0, 1, 2, 40, 300])),
    mapping=st.dictionaries(
        st.sampled_from(["-9999", "-1", "0", "1", "2", "40", "01", "x"]), st.integers(1, 14)
    ),
)
def test_integer_rasters_take_the_dense_path_with_the_same_answers(values, mapping):
    got = lookup_values(values, mapping, default=-9999)
    want = np.array([mapping.get(value_key(v), -9999) for v in values.ravel().tolist()]).reshape(4, 6)
    np.testing.assert_array_equal(got, want)
