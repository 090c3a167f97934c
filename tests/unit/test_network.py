import numpy as np
import pytest

from hydro.core.errors import NetworkError
from hydro.io.netcdf import read_network, write_network
from hydro.reservoir.levelpool import LevelPoolParameters
from hydro.synthetic import strahler_order, synthetic_network
from tests.helpers import make_network

#      1   2
#       \ /
#        3   4
#         \ /
#          5  (outlet)
IDS = [1, 2, 3, 4, 5]
TO = [3, 3, 5, 5, 0]


def test_topology_order_levels_layout():
    net = make_network(IDS, TO)
    order = net.topological_order()
    pos = {int(net.feature_id[i]): k for k, i in enumerate(order)}
    assert all(pos[a] < pos[b] for a, b in zip(IDS, TO) if b)
    assert net.levels.tolist() == [0, 0, 1, 0, 2]
    layout = net.dfs_layout()
    assert net.feature_id[layout].tolist() == [1, 2, 3, 4, 5]  # post-order: sub-basin of 3 contiguous
    ptr, idx = net.upstream_csr
    assert sorted(net.feature_id[idx[ptr[4]:ptr[5]]].tolist()) == [3, 4]


def test_dfs_layout_contiguous_subbasins():
    net, _ = synthetic_network(2000, seed=3)
    perm = net.dfs_layout()
    laid = net.take(perm)
    down = laid.downstream_index
    assert np.all((down == -1) | (down > np.arange(laid.size)))  # upstream first
    # every sub-basin is a contiguous block ending at its outlet segment
    for root in [10, 500, 1500]:
        sub = laid.upstream_of(int(laid.feature_id[root]))
        members = np.sort(laid.index_of(sub.feature_id))
        assert members[-1] == root and members[-1] - members[0] + 1 == members.size


def test_a_part_taken_unchecked_equals_the_checked_network_and_repeated_nodes_are_refused():
    """take() skips the check for distinct nodes of a valid network (a what-if builds many parts): the part is
    what constructing it with the check gives; a node taken twice is still checked and named."""
    from dataclasses import fields

    from hydro.network import RiverNetwork

    net, _ = synthetic_network(500, seed=4)
    index = np.random.default_rng(1).permutation(net.size)[:200]
    part = net.take(index)
    checked = RiverNetwork(**{f.name: getattr(part, f.name) for f in fields(part)})
    for f in fields(part):
        a, b = getattr(part, f.name), getattr(checked, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f.name
        else:
            assert a == b, f.name
    assert np.array_equal(part.downstream_index, checked.downstream_index)
    with pytest.raises(NetworkError, match="duplicate feature_id"):
        net.take(np.array([0, 1, 1]))


def test_upstream_of_subsets_basin():
    net = make_network(IDS, TO)
    sub = net.upstream_of(3)
    assert sorted(sub.feature_id.tolist()) == [1, 2, 3]
    assert sub.to[sub.feature_id == 3][0] == 0


@pytest.mark.parametrize(
    "to, overrides, expect",
    [
        ([3, 3, 5, 5, 99], {}, "5->99"),
        ([3, 3, 1, 5, 0], {}, "cycle"),
        (TO, {"length": np.array([1.0, -5.0, 1.0, 1.0, 1.0])}, "length must be > 0; found -5 on segment(s) 2"),
        (TO, {"slope": np.array([1e-3, 1e-3, np.nan, 1e-3, 1e-3])}, "slope is NaN on segment(s) 3"),
        (TO, {"bottom_width": np.array([1.0, 1.0, 1.0, 0.0, 1.0])}, "bottom_width must be > 0"),
    ],
)
def test_validation_names_offending_ids(to, overrides, expect):
    with pytest.raises(NetworkError) as err:
        make_network(IDS, to, **overrides)
    assert expect in str(err.value)


def test_validation_lists_every_problem():
    with pytest.raises(NetworkError) as err:
        make_network([1, 1, 3], [3, 3, 7], length=np.array([1.0, 1.0, -1.0]))
    assert len(err.value.problems) == 3
    assert "duplicate feature_id: 1" in str(err.value)


def test_collapse_lakes_as_nwm():
    # 1 -> 2 -> 3 -> 4 -> 5 with 2 and 3 in lake 77; 6 drains into lake member 3
    net = make_network([1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 0, 3], waterbody=[-9999, 77, 77, -9999, -9999, -9999])
    c = net.collapse_lakes(np.array([77]))
    assert sorted(c.feature_id.tolist()) == [1, 4, 5, 6, 77]
    to = dict(zip(c.feature_id.tolist(), c.to.tolist()))
    assert to[1] == 77 and to[6] == 77 and to[77] == 4
    assert c.is_lake[c.feature_id == 77].all()


def test_network_file_round_trip(tmp_path):
    net = make_network(IDS, TO, waterbody=[-9999, -9999, 5, -9999, -9999])
    lakes = LevelPoolParameters(
        lake_id=[5], area_km2=[2.0], max_elevation=[110.0], weir_elevation=[108.0], weir_coefficient=[0.4],
        weir_length=[10.0], dam_length=[10.0], orifice_elevation=[100.0], orifice_coefficient=[0.1],
        orifice_area=[1.0], initial_fraction_depth=[0.9],
    )
    path = write_network(tmp_path / "net.nc", net, lakes)
    back, back_lakes = read_network(path)
    for name in ("feature_id", "to", "length", "slope", "top_width_cc", "waterbody", "musk_k"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    np.testing.assert_array_equal(back_lakes.weir_elevation, lakes.weir_elevation)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_strahler_order():
    net = make_network(IDS, TO)
    assert strahler_order(net).tolist() == [1, 1, 2, 1, 2]


def test_lakes_listed_but_not_collapsed_route_as_channels_and_are_named(caplog):
    """A network file may list a lake whose segments were never collapsed into a lake node: the operated
    network routes it as a channel segment (no level pool), and the log names it instead of staying silent."""
    from hydro.routing.operated import routed_lakes

    net = make_network(IDS, TO, waterbody=[-9999, -9999, 50, -9999, -9999])
    lakes = LevelPoolParameters(
        lake_id=[50], area_km2=[2.0], max_elevation=[110.0], weir_elevation=[108.0], weir_coefficient=[0.4],
        weir_length=[10.0], dam_length=[10.0], orifice_elevation=[100.0], orifice_coefficient=[0.1],
        orifice_area=[1.0], initial_fraction_depth=[0.9],
    )
    with caplog.at_level("WARNING", logger="hydro"):
        assert routed_lakes(net, lakes) is None
    assert "lake(s) 50 listed but not collapsed" in caplog.text and "routed as channel segments" in caplog.text
    caplog.clear()
    collapsed = net.collapse_lakes(lakes.lake_id)
    with caplog.at_level("WARNING", logger="hydro"):
        assert routed_lakes(collapsed, lakes) is lakes
    assert caplog.text == ""
    assert routed_lakes(net, None) is None
