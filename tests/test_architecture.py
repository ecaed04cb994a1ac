"""The architecture is a test: the import-linter contracts of pyproject.toml hold, and no module cycles.

The contracts (layers, independent stages, no ``pipelines`` import, acyclic siblings) are
described in docs/architecture.md. Their ``ignore_imports`` entries each name who removes
them; the cycle check below honours the same entries, so there is one list.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[1]
TYPES = {
    "layers": LayersContract,
    "independence": IndependenceContract,
    "forbidden": ForbiddenContract,
    "acyclic_siblings": AcyclicSiblingsContract,
}


def _config() -> dict:
    return read_configuration(str(ROOT / "pyproject.toml"))


def _graph() -> grimp.ImportGraph:
    roots = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
    return grimp.build_graph(*roots, cache_dir=None)


def _contract(contract_id: str):
    config = _config()
    options = next(c for c in config["contracts_options"] if c["id"] == contract_id)
    return TYPES[options["type"]](options["name"], config["session_options"], options)


def _ignored() -> set[tuple[str, str]]:
    out = set()
    for options in _config()["contracts_options"]:
        for expr in options.get("ignore_imports", []):
            importer, imported = (s.strip() for s in expr.split("->"))
            out.add((importer, imported))
    return out


def _cycles(graph: grimp.ImportGraph, ignored: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components (more than one module) of reefdask's module graph."""
    mods = sorted(m for m in graph.modules if m == "reefdask" or m.startswith("reefdask."))
    edges = {
        m: sorted(
            w for w in graph.find_modules_directly_imported_by(m)
            if (w == "reefdask" or w.startswith("reefdask.")) and (m, w) not in ignored
        )
        for m in mods
    }  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for start in mods:  # Tarjan, iterative (no recursion limit on deep chains)
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_lint_imports_keeps_every_contract() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
        capture_output=True, text=True, cwd=ROOT, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    broken = [line.strip() for line in out.stdout.splitlines() if " BROKEN" in line]
    assert out.returncode == 0, f"broken contracts: {broken}\n{out.stdout[-4000:]}{out.stderr[-2000:]}"


def test_no_module_cycles() -> None:
    """Every cycle, including a module importing the package that imports it (not a sibling cycle)."""
    cycles = _cycles(_graph(), _ignored())
    assert not cycles, "import cycles (break each; see docs/architecture.md): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_root_package_imports_nothing_of_reefdask() -> None:
    """Why any layer may import ``reefdask`` (for ``__version__``): its __init__ loads no subpackage."""
    graph = _graph()
    assert not [m for m in graph.find_modules_directly_imported_by("reefdask") if m.startswith("reefdask.")]


@pytest.mark.parametrize(
    ("contract_id", "importer", "imported"),
    [
        ("layers", "reefdask.core.grid", "reefdask.io.storage"),  # core below io
        ("layers", "reefdask.io.rasters", "reefdask.cube.store"),  # io below cube
        ("layers", "reefdask.model.card", "reefdask.predict.run"),  # the model contract below the stages
        ("layers", "reefdask.predict.run", "reefdask.clean.steps"),  # stages of one tier are independent
        ("layers", "reefdask.cluster.session", "reefdask.cli.core"),  # nothing imports the cli
        ("stages-independent", "reefdask.acquire.copy", "reefdask.calval.metrics"),
        ("no-pipelines", "reefdask.predict.run", "pipelines.predict"),
        ("acyclic", "reefdask.clean.protocol", "reefdask.clean.run"),  # the cycle this issue removed
    ],
)
def test_contracts_catch_a_violation(contract_id: str, importer: str, imported: str) -> None:
    """Each contract is kept today, and breaks when one import that it forbids is added."""
    contract = _contract(contract_id)
    assert contract.check(_graph(), verbose=False).kept
    graph = _graph()
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    assert not contract.check(graph, verbose=False).kept


def test_cycle_finder_finds_a_parent_package_cycle() -> None:
    """cube/__init__ imports cube.store; store importing its package closes a cycle siblings miss."""
    graph = _graph()
    assert graph.direct_import_exists(importer="reefdask.cube", imported="reefdask.cube.store")
    graph.add_import(importer="reefdask.cube.store", imported="reefdask.cube")
    assert any({"reefdask.cube", "reefdask.cube.store"} <= set(c) for c in _cycles(graph, _ignored()))
    assert _contract("acyclic").check(graph, verbose=False).kept  # why the cycle check exists
