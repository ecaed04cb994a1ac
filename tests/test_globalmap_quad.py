import numpy as np
import pytest
from globalmap_support import make_model, make_quads

from reefdask.config import load_config
from reefdask.core.grid import Quad
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.ensemble import mean_probabilities
from reefdask.globalmap.mapstore import MapStore
from reefdask.globalmap.plan import open_run
from reefdask.globalmap.quad import _read, derive_products, predict_quad, read_tile
from reefdask.globalmap.run import run_job
from reefdask.io import open_imagery

pytestmark = pytest.mark.tf
S = 64


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    """A 3 x 3 block of quads, a model, and a finished run over them."""
    root = tmp_path_factory.mktemp("seams")
    quads = make_quads(root, n=9, size=S)
    model = make_model(root / "m.keras")
    cfg = load_config(
        {
            "run": str(root / "run"),
            "models": [model],
            "inventory": str(root / "imagery"),
            "products": ["probabilities", "coarse", "classes", "heat", "outline"],
        },
        GlobalConfig,
    )
    run_job(cfg, log=lambda s: None)
    return quads, open_run(cfg)


def _mosaic(quads):
    """The 9 quads stitched north-up into one (band, 3S, 3S) array, and the NW quad."""
    xs, ys = [q.quad.x for q in quads], [q.quad.y for q in quads]
    out = np.zeros((3, 3 * S, 3 * S), "uint8")
    for q in quads:
        r, c = (max(ys) - q.quad.y) * S, (q.quad.x - min(xs)) * S
        out[:, r : r + S, c : c + S] = open_imagery(q.image).values
    return out, Quad(min(xs), max(ys))


def _model_on(plan, raw):
    from reefdask.predict.model import load_model

    m = plan.spec.members[0]
    x = np.moveaxis(raw.astype("float32"), 0, -1)
    x[(raw == 0).all(axis=0)] = -10.0
    return np.asarray(load_model(m.url, m.key)(x[None], training=False))[0]


def test_quad_borders_are_seam_free(block):
    quads, plan = block
    mosaic, nw = _mosaic(quads)
    whole = _model_on(plan, mosaic)
    centre = nw.offset(1, -1)
    raw, nodata = read_tile(plan.tasks[centre.id], plan.spec)
    probs, _ = predict_quad(raw, nodata, plan.spec)
    np.testing.assert_allclose(probs, whole[S : 2 * S, S : 2 * S], atol=1e-5)
    # the written products of all 9 quads form the mosaic's products (away from the outer edge)
    store = MapStore(plan.spec.map_store)
    expected = derive_products(whole, ~(mosaic == 0).all(axis=0), plan.spec)
    h = plan.spec.halo
    for name in ("heat", "coarse", "classes"):
        got = np.concatenate(
            [
                np.concatenate([store.read(name, nw.offset(dx, -dy)) for dx in range(3)], axis=-1)
                for dy in range(3)
            ],
            axis=-2,
        )
        inner = (..., slice(h, 3 * S - h), slice(h, 3 * S - h))
        diff = np.abs(got[inner].astype(int) - expected[name][inner].astype(int))
        if name == "classes":  # a tie between two groups may flip with float round-off
            assert (diff > 0).mean() < 1e-3
        else:
            assert diff.max() <= 1, name


def test_products_are_consistent(block):
    quads, plan = block
    store = MapStore(plan.spec.map_store)
    q = quads[4].quad
    probs, coarse, heat = (store.read(n, q).astype(int) for n in ("probabilities", "coarse", "heat"))
    classes, outline = store.read("classes", q), store.read("outline", q)
    assert probs.shape == (14, S, S) and coarse.shape == (5, S, S)
    assert np.abs(probs.sum(axis=0) - 100).max() <= 14 and np.abs(coarse.sum(axis=0) - 100).max() <= 5
    np.testing.assert_array_equal(heat, coarse[2])  # reef heat = the reef group's percent
    assert set(np.unique(classes)) <= {1, 2, 3, 4, 5}
    np.testing.assert_array_equal(outline == 1, classes == 3)  # no threshold: argmax group == reef


def test_fine_quads_are_downsampled_as_clean_does(tmp_path):
    """Regression: the global map rounded half-to-even without the nodata nudge (2.5 -> 2)."""
    from reefdask.clean.imagery import clean_imagery
    from reefdask.testing.models import write_tif

    img = np.zeros((3, 4, 4), "uint8")
    img[:, :2, :2] = [[2, 3], [2, 3]]  # cell (0, 0): mean 2.5 in every band
    img[0, 0, 2] = 1  # cell (0, 1): one valid pixel (1, 0, 0), three nodata pixels
    img[0, 2, 2], img[1, 2, 3], img[2, 3, 2] = 1, 1, 1  # cell (1, 1): mean (1/3, 1/3, 1/3) -> 0 = nodata
    src = write_tif(tmp_path / "fine.tif", img, block=16)
    block, nodata = _read(src, 0, 2, 0, 2, 2, None)
    assert nodata == 0
    assert block[:, 0, 0].tolist() == [3, 3, 3]  # half up, as clean rounds
    assert block[:, 0, 1].tolist() == [1, 0, 0]
    assert block[:, 1, 0].tolist() == [0, 0, 0]  # no valid pixel: nodata
    assert block[:, 1, 1].tolist() == [1, 0, 0]  # a valid cell that rounds to nodata is nudged
    clean_imagery([src], tmp_path / "clean.tif", factor=2)
    import rasterio

    with rasterio.open(tmp_path / "clean.tif") as ds:
        assert np.array_equal(ds.read(), block)


def test_ensemble_mean_and_weights():
    a, b = np.full((1, 1, 2), [1.0, 0.0], "float32"), np.full((1, 1, 2), [0.0, 1.0], "float32")
    assert mean_probabilities([a, b]).tolist() == [[[0.5, 0.5]]]
    assert mean_probabilities([a, b], [1, 3]).tolist() == [[[0.25, 0.75]]]


def test_ensemble_of_two_models_averages_and_records_members(tmp_path):
    make_quads(tmp_path, n=1, size=S)
    m1, m2 = make_model(tmp_path / "a.keras", seed=1), make_model(tmp_path / "b.keras", seed=2)
    base = {"models": [m1, m2], "inventory": str(tmp_path / "imagery"), "products": ["probabilities"]}
    cfg = load_config({**base, "run": str(tmp_path / "ens")}, GlobalConfig)
    plan = open_run(cfg)
    assert [m["model"] for m in plan.manifest["members"]] == [m1, m2] and plan.manifest["ensemble"]
    task = next(iter(plan.tasks.values()))
    raw, nodata = read_tile(task, plan.spec)
    both, _ = predict_quad(raw, nodata, plan.spec)
    singles = []
    for i, m in enumerate((m1, m2)):
        p = open_run(load_config({**base, "models": [m], "run": str(tmp_path / f"single{i}")}, GlobalConfig))
        singles.append(predict_quad(raw, nodata, p.spec)[0])
    np.testing.assert_allclose(both, (singles[0] + singles[1]) / 2, atol=1e-6)
    assert MapStore(plan.spec.map_store).attrs()["provenance"]["ensemble"] is True


def test_job_on_a_dask_cluster_equals_in_process(block, tmp_path):
    from distributed import Client

    quads, plan = block
    cfg = plan.config.model_copy(update={"run": str(tmp_path / "dask")})
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        report = run_job(cfg, client=client, log=lambda s: None)
    assert set(report.statuses.values()) == {"done"} and len(report.statuses) == 9
    a, b = MapStore(str(tmp_path / "dask" / "map.zarr")), MapStore(plan.spec.map_store)
    for q in quads:
        np.testing.assert_array_equal(a.read("heat", q.quad), b.read("heat", q.quad))


def test_outline_follows_the_reef_decision():
    from dataclasses import replace

    from reefdask.core.classes import default_schema
    from reefdask.globalmap.quad import RunSpec

    probs = np.random.default_rng(0).dirichlet(np.ones(14), size=(8, 8)).astype("float32")
    valid = np.ones((8, 8), bool)
    argmax = RunSpec("", (), default_schema().to_dict(), 8, 0, ("outline",))
    decided = replace(argmax, reef_decision={"kind": "threshold", "threshold": 0.3})
    out = derive_products(probs, valid, decided)["outline"]
    reef_p = probs[..., 3:8].sum(-1)  # detailed codes 4..8 form the reef group
    np.testing.assert_array_equal(out == 1, reef_p > 0.3)
    assert (derive_products(probs, valid, argmax)["outline"] != out).any()


def test_the_model_cards_fitted_decision_reaches_the_run(tmp_path):
    make_quads(tmp_path, n=1, size=S)
    decision = {"kind": "logistic", "coef": [0.0] * 3 + [5.0] * 5 + [0.0] * 6, "intercept": -1.0}
    model = make_model(tmp_path / "m.keras", reef_decision=decision)
    cfg = {"run": str(tmp_path / "run"), "models": [model], "inventory": str(tmp_path / "imagery")}
    plan = open_run(load_config(cfg, GlobalConfig))
    assert plan.spec.reef_decision == decision and plan.manifest["settings"]["reef_decision"] == decision
    override = open_run(
        load_config({**cfg, "run": str(tmp_path / "r2"), "reef_threshold": 0.4}, GlobalConfig)
    )
    assert override.spec.reef_decision == {"kind": "threshold", "threshold": 0.4}
