"""hydro.core.workspace: config-relative paths, packaged defaults, the user cache and its atomic builds."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hydro.core import workspace
from hydro.core.errors import ConfigError
from hydro.core.workspace import (cache_dir, cached_build, demo_basin_folder, packaged, packaged_names, resolve_asset,
                                  resolve_basin)


def _config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cycle.toml"
    path.write_text("[cycle]\n")
    return path


def test_packaged_defaults_are_files_inside_the_package():
    package = Path(workspace.__file__).resolve().parents[1]
    for kind, name in (("models", "xaj/grid_default.toml"), ("models", "xaj/hourly.toml"), ("models", "xaj/daily.toml"),
                       ("models", "gr4j/hourly.toml"), ("models", "gr4j/daily.toml"),
                       ("forcing", "demo_storm.toml"), ("demo", "cycle.toml")):
        path = packaged(kind, name)
        assert path.is_file() and package in path.parents, (kind, name)
    assert "xaj/hourly.toml" in packaged_names("models")
    with pytest.raises(ConfigError, match=r"no packaged models file 'hbv/hourly.toml'.*packaged: .*xaj/hourly.toml"):
        packaged("models", "hbv/hourly.toml")
    with pytest.raises(ConfigError, match="leaves the packaged"):
        packaged("models", "../../cli.py")


def test_a_file_beside_the_config_wins_over_the_packaged_one(tmp_path):
    config = _config(tmp_path / "run")
    assert resolve_asset("xaj/grid_default.toml", config, "models", "runoff.parameters") == \
        packaged("models", "xaj/grid_default.toml")
    own = tmp_path / "run" / "xaj" / "grid_default.toml"
    own.parent.mkdir()
    own.write_text('model = "xaj"\n')
    assert resolve_asset("xaj/grid_default.toml", config, "models", "runoff.parameters") == own.resolve()
    # relative to the config's folder, not to the current directory
    storm = tmp_path / "forcing" / "storm.toml"
    storm.parent.mkdir()
    storm.write_text("kind = 'synthetic_storm'\n")
    assert resolve_asset("../forcing/storm.toml", config, "forcing", "forcing.setup") == storm.resolve()
    assert resolve_asset(str(storm), config, "forcing", "forcing.setup") == storm.resolve()


def test_missing_asset_names_the_config_the_key_and_both_places(tmp_path):
    config = _config(tmp_path / "run")
    with pytest.raises(ConfigError) as err:
        resolve_asset("nowhere.toml", config, "forcing", "forcing.setup")
    text = str(err.value)
    assert "\n" not in text
    for part in (str(config), "forcing.setup", "'nowhere.toml'", str(tmp_path / "run" / "nowhere.toml"),
                 "packaged forcing/nowhere.toml", "demo_storm.toml"):
        assert part in text, part
    with pytest.raises(ConfigError, match=r"runoff.parameters '/abs/p.toml' not found: not /abs/p.toml \("):
        resolve_asset("/abs/p.toml", config, "models", "runoff.parameters")


def test_basin_folders_resolve_relative_to_the_config(tmp_path):
    config = _config(tmp_path / "runs" / "a")
    basin = tmp_path / "basins" / "mine"
    basin.mkdir(parents=True)
    (basin / "basin.toml").write_text('name = "mine"\n')
    assert resolve_basin("../../basins/mine", config) == basin.resolve()
    assert resolve_basin(str(basin), config) == basin.resolve()
    with pytest.raises(ConfigError) as err:
        resolve_basin("mine", config)
    text = str(err.value)
    assert str(config) in text and "cycle.basin 'mine'" in text and str(tmp_path / "runs" / "a" / "mine") in text
    assert '"demo"' in text


def test_cache_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == (tmp_path / "mine").resolve()
    monkeypatch.setenv("HYDRO_CACHE_DIR", "")
    assert cache_dir() == (tmp_path / "xdg").resolve() / "hydro"
    monkeypatch.delenv("HYDRO_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "hydro"
    assert demo_basin_folder() == tmp_path / "home" / ".cache" / "hydro" / "basins_v2" / "demo"


def test_demo_basin_is_generated_into_hydro_cache_dir(monkeypatch, tmp_path):
    from hydro.demo import demo_basin_dir, ensure_demo_basin

    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path / "cache"))
    config = _config(tmp_path / "run")
    with pytest.raises(ConfigError, match=r'cycle.basin "demo": the demo basin is not in the cache'):
        resolve_basin("demo", config)
    folder = resolve_basin("demo", config, build_demo=ensure_demo_basin)
    assert folder == tmp_path / "cache" / "basins_v2" / "demo"
    for name in ("basin.toml", "network.nc", "flow_direction.tif", "channel_segments.tif"):
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in (tmp_path / "cache" / "basins_v2").iterdir()) == ["demo"]  # no temporary left
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["cycle.toml"]
    stamp = (folder / "network.nc").stat().st_mtime_ns
    assert resolve_basin("demo", config) == folder == demo_basin_dir()
    assert (folder / "network.nc").stat().st_mtime_ns == stamp  # built once


def test_cached_build_is_all_or_nothing(tmp_path):
    target = tmp_path / "cache" / "thing"

    def broken(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt  # a run killed half-way

    with pytest.raises(KeyboardInterrupt):
        cached_build(target, broken)
    assert not target.exists() and list((tmp_path / "cache").iterdir()) == []

    def build(tmp: Path) -> None:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("2")

    assert cached_build(target, build) == target
    assert sorted(p.name for p in target.iterdir()) == ["a", "b"]
    assert oct(target.stat().st_mode & 0o777) == oct(workspace.DIR_MODE)
    # a stale temporary folder of a killed run is removed by the next build
    stale = tmp_path / "cache" / ".other.building.x"
    stale.mkdir()
    os.utime(stale, (0, 0))
    cached_build(tmp_path / "cache" / "other", build)
    assert not stale.exists()


def test_concurrent_builds_leave_one_complete_folder(tmp_path):
    target = tmp_path / "cache" / "thing"
    barrier = threading.Barrier(4)
    results, errors = [], []

    def build(tmp: Path) -> None:
        barrier.wait(timeout=10)  # all four build at the same time
        (tmp / "a").write_text(str(tmp))

    def run() -> None:
        try:
            results.append(cached_build(target, build))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [target] * 4
    assert [p.name for p in target.iterdir()] == ["a"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["thing"]


def test_numba_cache_moves_out_of_an_installed_package_only(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(workspace, "installed_in_site_packages", lambda: False)
    workspace.keep_numba_cache_out_of_package()
    assert "NUMBA_CACHE_DIR" not in os.environ
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    monkeypatch.setattr(workspace, "installed_in_site_packages", lambda: True)
    workspace.keep_numba_cache_out_of_package()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "numba") == numba.config.CACHE_DIR
