"""Packaging: the wheel carries the Hydra configs, and an installed ``pricewars`` runs anywhere.

The slow test builds the wheel, installs it into a fresh virtual environment (dependencies from
the package index) and runs the console script from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

import sim


def _env() -> dict[str, str]:
    """The environment without anything that would put the repository on the import path."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}}
    env["HYDRA_FULL_ERROR"] = "0"
    return env


def _check(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}"
    return proc


#: Not part of the source: a build from a copy without them cannot pick up stale files (an old
#: ``build/lib`` keeps files that were since moved or deleted) and leaves the checkout untouched.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "outputs",
                                     "multirun", "__pycache__", ".*_cache", ".hypothesis")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src") / "pricewars"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
            str(src)], cwd=out, timeout=300)
    (path,) = out.glob("pricewars-*.whl")
    return path


def test_conf_dir_is_inside_the_package():
    assert sim.CONF_DIR == Path(sim.__file__).resolve().parent / "conf"
    assert (sim.CONF_DIR / "config.yaml").is_file()
    assert not (ROOT / "conf").exists(), "the configs moved to sim/conf/"


def test_wheel_contains_every_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {p.relative_to(ROOT).as_posix() for p in sim.CONF_DIR.rglob("*.yaml")}
    assert {"sim/conf/config.yaml", "sim/conf/scenario/lean_lab_vs_giant.yaml"} <= configs
    assert configs <= names, f"missing from the wheel: {sorted(configs - names)}"


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_repository(wheel, tmp_path):
    venv = tmp_path / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, timeout=300)
    python, script = venv / "bin" / "python", venv / "bin" / "pricewars"
    _check([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path,
           timeout=900)
    work = tmp_path / "work"
    work.mkdir()
    where = _check([str(python), "-c", "import sim; print(sim.CONF_DIR)"], cwd=work, timeout=120)
    conf = Path(where.stdout.strip())
    assert conf.is_relative_to(venv) and (conf / "config.yaml").is_file(), conf

    _check([str(script), "horizon_days=30", "output.figures=false"], cwd=work, timeout=300)
    runs = [p.parent for p in (work / "outputs" / "runs").glob("*/*/summary.json")]
    assert len(runs) == 1, list(work.rglob("*"))
    for name in ("firms", "market", "events"):
        assert (runs[0] / f"{name}.parquet").is_file(), name
