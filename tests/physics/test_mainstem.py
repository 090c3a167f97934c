"""Main stem by the diffusive wave, fed by MC tributaries: mass balance and agreement with MC routing."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.routing.channel import MuskingumCunge
from hydro.routing.mainstem import MainStem
from tests.physics.test_rehearsal_forward import NETWORK, _storm


def test_mainstem_conserves_mass_and_follows_mc():
    lateral, _ = _storm(96)
    stem = MainStem(NETWORK, [4, 5, 6], cell_length=250.0)
    out = stem.run(lateral)
    assert out.storage_change_m3 == pytest.approx(out.inflow_volume_m3 - out.outflow_volume_m3, rel=1e-9)
    mc = MuskingumCunge(NETWORK, None, 300.0).run(lateral.astype(np.float32), 3600.0, 96 * 12, None, 12)
    q_mc = mc.streamflow[:, 5].astype(float)
    q_dw = out.discharge[:, -1]
    # two models of the same channel: same volume, peak within 10 %
    assert q_dw.sum() == pytest.approx(q_mc.sum(), rel=0.03)
    assert q_dw.max() == pytest.approx(q_mc.max(), rel=0.10)
    # stage: near the peak the outlet runs close to normal depth for its discharge (wide rectangle)
    normal = (q_dw.max() * stem.manning / (stem.width * np.sqrt(stem.outlet_slope))) ** 0.6
    assert (out.depth > 0).all() and out.depth[:, -1].max() == pytest.approx(normal, rel=0.05)


def test_stem_must_be_one_flow_path():
    with pytest.raises(ConfigError, match="does not drain to"):
        MainStem(NETWORK, [4, 6])
