"""The project's promises about itself: dependencies agree, start-up stays light."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].strip().lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d): d for d in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    conda.pop("python"), conda.pop("pip")
    # conda-forge packages dask[array] as plain dask
    assert set(conda) == set(deps), (set(conda) ^ set(deps))
    for name, req in deps.items():
        pin = re.search(r"(>=|==)\s*([\w.]+)", req)
        if pin:
            assert pin.group(0).replace(" ", "") in conda[name].replace(" ", ""), (name, req, conda[name])
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(p.startswith("tensorflow-cpu") for p in pip_section)


def test_import_and_cli_do_not_import_tensorflow():
    code = (
        "import sys, reefdask, reefdask.cli\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_version_and_help():
    out = subprocess.run(
        [sys.executable, "-m", "reefdask.cli", "--version"], capture_output=True, text=True, check=True
    )
    from reefdask import __version__

    assert out.stdout.strip() == f"reefdask {__version__}"
    helped = subprocess.run([sys.executable, "-m", "reefdask.cli", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "Usage" in helped.stdout
