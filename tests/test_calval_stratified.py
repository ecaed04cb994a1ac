"""Stratified estimators: the worked example of Olofsson et al. (2014), hand cases, and an
independent sample-level implementation (Stehman 2014 style ratio estimators); the sampler."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from reefdask.calval.sampling import (
    accuracy_from_samples,
    allocate,
    read_samples,
    stratified_sample,
    write_samples,
)
from reefdask.calval.stratified import normal_quantile, sample_size, stratified_accuracy
from reefdask.errors import ConfigError, InputNotFoundError, ReefdaskError

# Olofsson et al. 2014, section 5 (rows map: deforestation, forest gain, stable forest,
# stable non-forest; columns reference), mapped areas in 30 m pixels (0.09 ha each)
OLOFSSON_COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
OLOFSSON_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])


def test_olofsson_2014_worked_example():
    r = stratified_accuracy(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09)  # hectares
    # error-adjusted areas and 95 % half-widths as published (ha)
    np.testing.assert_allclose(np.round(r.area), [21_158, 11_686, 285_770, 581_386])
    # the paper uses z = 1.96; reefdask uses the exact quantile 1.959964 (1 ha less at most here)
    np.testing.assert_allclose(np.round(r.area_se * 1.96), [6_158, 3_756, 15_510, 16_282])
    np.testing.assert_allclose(r.area_ci, [6_158, 3_756, 15_510, 16_282], atol=1.0)
    np.testing.assert_allclose(np.round(r.users, 2), [0.88, 0.73, 0.93, 0.96])
    np.testing.assert_allclose(np.round(r.users_ci, 2), [0.07, 0.10, 0.04, 0.02])
    np.testing.assert_allclose(np.round(r.producers, 2), [0.75, 0.85, 0.93, 0.96])
    np.testing.assert_allclose(np.round(r.producers_ci, 2), [0.21, 0.25, 0.03, 0.02])
    assert round(r.overall, 2) == 0.95 and round(r.overall_ci, 2) == 0.02
    assert sample_size([0.7, 0.6, 0.9, 0.95], OLOFSSON_PIXELS, target_se=0.01) == 641


def test_hand_worked_two_class_case():
    # map: 20 km² reef, 80 km² other; 10 reef samples (8 reef), 10 other samples (1 reef)
    r = stratified_accuracy([[8, 2], [1, 9]], [20.0, 80.0])
    # p = [[0.2*0.8, 0.2*0.2], [0.8*0.1, 0.8*0.9]] = [[0.16, 0.04], [0.08, 0.72]]
    assert r.overall == pytest.approx(0.88)
    assert r.users.tolist() == pytest.approx([0.8, 0.9])
    assert r.producers.tolist() == pytest.approx([0.16 / 0.24, 0.72 / 0.76])
    assert r.area.tolist() == pytest.approx([24.0, 76.0])
    # V(p_.0) = 0.04*0.8*0.2/9 + 0.64*0.1*0.9/9 = 0.0007111 + 0.0064 = 0.0071111
    assert r.area_se[0] == pytest.approx(100 * np.sqrt(0.0071111111), rel=1e-6)
    # V(O) = 0.04*0.16/9 + 0.64*0.09/9
    assert r.overall_se == pytest.approx(np.sqrt(0.04 * 0.16 / 9 + 0.64 * 0.09 / 9))
    assert r.users_se[0] == pytest.approx(np.sqrt(0.16 / 9))
    # V(P_0) = [N0² (1-P0)² U0(1-U0)/(n0-1) + P0² N1² (1/10)(9/10)/9] / N_.0²
    p0 = 2 / 3
    v = (20**2 * (1 - p0) ** 2 * 0.16 / 9 + p0**2 * 80**2 * 0.09 / 9) / 24**2
    assert r.producers_se[0] == pytest.approx(np.sqrt(v))
    assert r.overall_ci == pytest.approx(1.959964 * r.overall_se, rel=1e-6)
    d = r.to_dict()
    assert d["overall"] == pytest.approx(0.88) and len(d["area_ci"]) == 2


def _stehman(counts, areas, z):
    """Independent estimator from individual sample units: stratified means and ratios."""
    counts = np.asarray(counts)
    h = len(areas)
    strata, ref = [], []
    for i in range(h):
        for j in range(h):
            strata += [i] * int(counts[i, j])
            ref += [j] * int(counts[i, j])
    strata, ref = np.array(strata), np.array(ref)
    N = np.asarray(areas, dtype=float)

    def total_and_var(y):  # stratified estimate of the population total of y, and its variance
        t, v = 0.0, 0.0
        for s in range(h):
            ys = y[strata == s]
            if len(ys) == 0:
                continue
            t += N[s] * ys.mean()
            v += N[s] ** 2 * (ys.var(ddof=1) if len(ys) > 1 else np.nan) / len(ys)
        return t, v

    def ratio(y, x):
        ty, _ = total_and_var(y)
        tx, _ = total_and_var(x)
        r = ty / tx
        _, v = total_and_var(y - r * x)  # linearised variance of a ratio estimator
        return r, np.sqrt(v) / tx

    out = {"area": [], "area_se": [], "users": [], "users_se": [], "producers": [], "producers_se": []}
    correct = (strata == ref).astype(float)
    t, v = total_and_var(correct)
    out["overall"], out["overall_se"] = t / N.sum(), np.sqrt(v) / N.sum()
    for k in range(h):
        t, v = total_and_var((ref == k).astype(float))
        out["area"].append(t)
        out["area_se"].append(np.sqrt(v))
        u, use = ratio(((strata == k) & (ref == k)).astype(float), (strata == k).astype(float))
        out["users"].append(u)
        out["users_se"].append(use)
        p, pse = ratio(((strata == k) & (ref == k)).astype(float), (ref == k).astype(float))
        out["producers"].append(p)
        out["producers_se"].append(pse)
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(2, 5),
    rare=st.integers(2, 4),
)
def test_matches_independent_sample_level_implementation(seed, h, rare):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 30, size=(h, h)) + np.diag(rng.integers(5, 60, size=h))
    counts[-1] = 0
    counts[-1, rng.integers(0, h, size=rare)] += 1  # a rare stratum with 2-4 samples
    counts[-1, -1] += 1
    areas = rng.uniform(1, 1000, size=h)
    areas[-1] = 0.5  # and a small mapped area
    r = stratified_accuracy(counts, areas)
    s = _stehman(counts, areas, normal_quantile(0.95))
    for key in ("area", "area_se", "users", "users_se", "producers", "producers_se"):
        np.testing.assert_allclose(getattr(r, key), s[key], rtol=1e-9, atol=1e-12, err_msg=key)
    assert r.overall == pytest.approx(s["overall"]) and r.overall_se == pytest.approx(s["overall_se"])
    np.testing.assert_allclose(r.area_ci, 1.959963984540054 * r.area_se)


def test_one_sample_stratum_gives_undefined_variance_and_errors_are_clear():
    r = stratified_accuracy([[5, 1], [0, 1]], [10.0, 1.0])
    assert np.isnan(r.users_se[1]) and np.isnan(r.overall_se) and np.isfinite(r.users_se[0])
    assert r.to_dict()["overall_se"] is None
    # a stratum without area may have a single sample: its term vanishes
    r = stratified_accuracy([[5, 1], [0, 1]], [10.0, 0.0])
    assert np.isfinite(r.overall_se)
    with pytest.raises(ReefdaskError, match="no samples"):
        stratified_accuracy([[5, 1], [0, 0]], [10.0, 1.0])
    with pytest.raises(ReefdaskError, match="square"):
        stratified_accuracy([[5, 1]], [10.0])
    with pytest.raises(ReefdaskError, match="one mapped area"):
        stratified_accuracy([[5, 1], [1, 5]], [10.0])
    with pytest.raises(ReefdaskError, match="between 0 and 1"):
        stratified_accuracy([[5, 1], [1, 5]], [1.0, 1.0], confidence=95)


def test_allocations():
    px = [100_000, 5_000, 300]
    assert allocate(px, 600, "proportional").sum() == 600
    assert allocate(px, 600, "equal").tolist() == [200, 200, 200]
    olo = allocate(px, 600, "olofsson", minimum=100)
    assert olo.tolist()[1:] == [100, 100] and olo.sum() == 600
    assert allocate([1000, 3], 100, "olofsson", minimum=50).tolist() == [97, 3]  # capped by pixels
    with pytest.raises(ConfigError, match="allocation"):
        allocate(px, 10, "random")


def _class_map(seed=0, shape=(60, 80)):
    rng = np.random.default_rng(seed)
    arr = rng.choice(np.array([1, 2, 3, 255], dtype="uint8"), p=[0.7, 0.25, 0.01, 0.04], size=shape)
    px = 9.554628535647032
    x = 1000.0 + px * (np.arange(shape[1]) + 0.5)
    y = 2_000_000.0 - px * (np.arange(shape[0]) + 0.5)
    da = xr.DataArray(arr, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:3857")
    return da.chunk({"y": 25, "x": 30})


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
def test_sampler_draws_within_strata_and_round_trips(tmp_path, suffix):
    da = _class_map()
    design = stratified_sample(da, 60, [1, 2, 3], allocation="olofsson", minimum=15, seed=3)
    arr = da.values
    got = {c: 0 for c in (1, 2, 3)}
    seen = set()
    for s in design.samples:
        assert arr[s["row"], s["col"]] == s["map_class"]  # each point lies in its stratum
        got[s["map_class"]] += 1
        seen.add((s["row"], s["col"]))
    assert len(seen) == len(design.samples) == 60  # without replacement
    n3 = int((arr == 3).sum())
    assert got[3] == min(15, n3) and got[2] == 15 and got[1] == 60 - 15 - got[3]
    assert design.pixels == tuple(int((arr == c).sum()) for c in (1, 2, 3))
    lat = np.arctan(np.sinh(2_000_000.0 / 6378137.0))  # about cos²(lat) of the 9.55 m pixels
    approx = np.isin(arr, [1, 2, 3]).sum() * 9.554628535647032e-3**2 * np.cos(lat) ** 2
    assert sum(design.area_km2) == pytest.approx(approx, rel=1e-2)
    again = stratified_sample(da, 60, [1, 2, 3], allocation="olofsson", minimum=15, seed=3)
    assert again.samples == design.samples  # seeded

    path = write_samples(design, tmp_path / f"samples{suffix}")
    with pytest.raises(ReefdaskError, match="no reference label"):
        read_samples(path)
    # a "labeller": the truth is the map, except every 4th sample of class 1 is really 2
    truth = {
        s["id"]: (2 if s["map_class"] == 1 and s["id"] % 4 == 0 else s["map_class"]) for s in design.samples
    }
    if suffix == ".csv":
        rows = list(csv.DictReader(path.open()))
        for r in rows:
            r["reference"] = truth[int(r["id"])]
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        gj = json.loads(path.read_text())
        for f in gj["features"]:
            f["properties"]["reference"] = truth[f["properties"]["id"]]
            lon, lat = f["geometry"]["coordinates"]
            assert -180 < lon < 180 and -90 < lat < 90
        path.write_text(json.dumps(gj))
    mapped, ref, meta = read_samples(path)
    assert meta["strata"] == [1, 2, 3] and len(mapped) == 60
    r = accuracy_from_samples(path)
    counts = np.zeros((3, 3), int)
    for m, t in zip(mapped, ref, strict=True):
        counts[m - 1, t - 1] += 1
    want = stratified_accuracy(counts, design.area_km2)
    np.testing.assert_allclose(r.area, want.area)
    assert r.users[1] == 1.0 and r.users[0] < 1.0
    with pytest.raises(InputNotFoundError, match="design"):
        read_samples(tmp_path / "missing.csv")


def test_sampler_reads_a_class_raster_path(tmp_path):
    import rasterio

    da = _class_map(seed=4).compute()
    path = tmp_path / "map.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=60, width=80, count=1, dtype="uint8", nodata=255,
        crs="EPSG:3857", transform=da.rio.transform(),
    ) as f:  # fmt: skip
        f.write(da.values, 1)
    from_path = stratified_sample(str(path), 30, [1, 2, 3], allocation="equal", seed=1)
    from_array = stratified_sample(da.chunk({"y": 60, "x": 80}), 30, [1, 2, 3], allocation="equal", seed=1)
    assert [s["map_class"] for s in from_path.samples] == [s["map_class"] for s in from_array.samples]
    assert from_path.area_km2 == pytest.approx(from_array.area_km2)
