"""The notebooks under ``notebooks/`` are stored clean and still run from top to bottom.

Each notebook is executed with nbclient in a fresh working folder, on a kernel whose
command is this interpreter (so the kernel sees the same reefdask and packages as the
tests, whatever kernels the machine has installed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "reefdask-tests"


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= {"explore.ipynb", "accuracy.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, (
        f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them "
        "(Jupyter: Edit > Clear Outputs of All Cells) before committing."
    )
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all("image/png" not in json.dumps(c) for c in nb["cells"])


@pytest.fixture
def kernel_here(tmp_path, monkeypatch):
    """A kernelspec that runs ipykernel on this interpreter, found first on JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "reefdask tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return KERNEL


def _errors(nb) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


RUNS = [pytest.param(p, marks=[pytest.mark.tf] if p.stem == "explore" else []) for p in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, kernel_here):
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_here, timeout=600, resources={"metadata": {"path": str(work)}}
    )
    client.execute()  # raises CellExecutionError naming the cell on the first failure
    assert not _errors(nb)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert figures, f"{path.name} drew no figure"
    assert any((work / d).is_dir() for d in ("explore-work", "accuracy-work")), "nothing written in the cwd"
    if path.stem == "explore":
        assert len(figures) >= 1 and "/status" in html  # the dashboard link
        for kind in ("Model card", "Prediction status", "Ledger"):
            assert f"<strong>{kind}</strong>" in html
        assert "a rerun would compute 0 of 9 chunks" in "".join(
            o.get("text", "") for o in outputs if o.get("output_type") == "stream"
        )
    if path.stem == "accuracy":
        assert len(figures) == 3
        for kind in ("Calval evaluation", "Stratified accuracy"):
            assert f"<strong>{kind}</strong>" in html
