"""The wheel, installed in a fresh virtualenv outside the repository, runs the demo from an empty directory,
writes only under ``--output-dir`` and ``$HYDRO_CACHE_DIR``, and leaves the checkout's ``git status`` as it was.

How, and what it costs:

* The files git knows of the working tree (tracked, and untracked but not ignored) are copied to a temporary
  folder and the wheel is built there with ``python -m build --wheel`` (nothing is written into the checkout,
  not even ``build/``). Offline with ``--no-isolation`` when this environment's setuptools can build wheels
  by itself (>= 70.1, or the ``wheel`` package); otherwise in build's isolated environment, whose setuptools
  pip fetches from the registry.
* A fresh virtualenv (``python -m venv --without-pip``) gets the wheel with this environment's pip
  (``pip --python VENV/bin/python install --no-deps WHEEL``). Its dependencies are made visible by a ``.pth``
  file naming this project venv's site-packages: the cheapest honest way to give it numpy, numba, xarray, ...
  (a ``.pth`` line adds a folder but runs none of that folder's own ``.pth`` files, so the editable install
  of the checkout stays out; the test asserts that ``hydro`` is imported from the venv). A full
  ``pip install WHEEL`` from the registry checks the same thing, only slower.
* ``VENV/bin/hydro demo --output-dir D`` runs in an empty folder with ``HYDRO_CACHE_DIR`` in the test's
  temporary folder. Most of its time is numba compiling the kernels of the fresh install (cached under
  ``$HYDRO_CACHE_DIR/numba``, not in site-packages) and the demo's simulated climatology.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPO


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=True).stdout


def _copy_sources(dest: Path) -> None:
    """The working tree as git sees it (tracked + untracked-not-ignored), links kept, times preserved."""
    for name in _git("ls-files", "-co", "--exclude-standard", "-z").split("\0"):
        src = REPO / name
        if not name or not (src.is_file() or src.is_symlink()):
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


def _can_build_offline() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401

        return True
    except ImportError:
        version = tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit())
        return version >= (70, 1)


def _build_wheel(tmp: Path) -> Path:
    src, dist = tmp / "src", tmp / "dist"
    _copy_sources(src)
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist)]
    if _can_build_offline():
        cmd += ["--no-isolation", "--skip-dependency-check"]
    proc = subprocess.run([*cmd, str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, f"wheel build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    (wheel,) = dist.glob("hydro-*.whl")
    return wheel


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_wheel_in_a_fresh_venv_runs_the_demo_and_leaves_the_checkout_clean(tmp_path):
    status_before = _git("status", "--porcelain", "--untracked-files=all")
    wheel = _build_wheel(tmp_path)
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True,
                           check=True).stdout
    for name in ("hydro/data/models/xaj/grid_default.toml", "hydro/data/models/xaj/hourly.toml",
                 "hydro/data/models/gr4j/daily.toml", "hydro/data/forcing/demo_storm.toml", "hydro/data/demo/cycle.toml"):
        assert name in names, name

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_hydro_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    run, cache = tmp_path / "run", tmp_path / "cache"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")}
    env["HYDRO_CACHE_DIR"] = str(cache)
    where = subprocess.run([str(python), "-c", "import hydro; print(hydro.__file__)"], capture_output=True, text=True,
                           cwd=run, env=env, check=True).stdout.strip()
    assert Path(where).parent == site / "hydro", where
    installed = _snapshot(venv)

    proc = subprocess.run([str(venv / "bin" / "hydro"), "demo", "--output-dir", "D"], capture_output=True, text=True,
                          cwd=run, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    folder = run / "D" / "cycle_20260701T0400"
    for name in ("report.html", "forecast.nc", "analysis.nc", "warnings.csv", "plan/plan.html"):
        assert (folder / name).stat().st_size > 0, name
    assert [p.name for p in run.iterdir()] == ["D"]  # nothing beside the output folder
    assert (cache / "basins_v2" / "demo" / "basin.toml").is_file()  # the demo basin went to the cache
    assert _snapshot(venv) == installed  # nothing written into the virtualenv (site-packages included)
    assert _git("status", "--porcelain", "--untracked-files=all") == status_before
