"""User warning thresholds per gauge or control section (``[warning] thresholds`` in the cycle config).

A table of four-colour levels, each with its provenance, as a flood-forecasting centre keeps them: the
blue/yellow/orange/red discharge or stage at which a station's warning grade starts. A CSV::

    id,feature_id,section,quantity,units,blue,yellow,orange,red,source
    colorado_at_austin,5781901,,discharge,m3 s-1,600,900,1500,2500,"example values, not official"
    town,,outlet_town,stage,m,5.2,5.5,7.5,9.0,provincial flood-control office 2024

or the same as TOML, one ``[[threshold]]`` table per station (same keys). ``feature_id`` names a network
segment (its forecast discharge is graded), ``section`` a control section of the basin file (its stage, from
its rating, or discharge); give one of them. ``quantity`` is ``discharge`` (default) or ``stage``; ``units``
``m3 s-1`` (default for discharge), ``ft3 s-1``, ``m`` (default for stage) or ``ft`` — converted to SI here.
Empty levels are allowed (a station with flood categories only from yellow up), given levels must rise
blue <= yellow <= orange <= red, and ``source`` (who set the levels, or "example values") is required: it is
written into the warning outputs beside each grade.

US practice maps onto the four colours as action -> blue, minor flood -> yellow, moderate -> orange,
major -> red (NWS Manual 10-950; shared/domain/warning.md section 3).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError
from ..core.variables import unit_factor
from .tables import read_table

COLOURS = ("blue", "yellow", "orange", "red")
_CANONICAL = {"discharge": "m3 s-1", "stage": "m"}  # converted through the one units layer (pint)
_KEYS = {"id", "feature_id", "section", "quantity", "units", "source", "name", *COLOURS}


@dataclass(frozen=True)
class UserThreshold:
    """One station's four-colour levels in SI units (m3 s-1 or m); None where the grade has no level."""

    id: str
    quantity: str  # "discharge" or "stage"
    levels: tuple[float | None, float | None, float | None, float | None]  # blue, yellow, orange, red
    source: str
    feature_id: int | None = None
    section: str | None = None
    name: str = ""

    @property
    def units(self) -> str:
        return "m3 s-1" if self.quantity == "discharge" else "m"


def _number(value, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{where}: {value!r} must be a finite, non-negative number")
    return number


def _threshold(row: dict, where: str) -> UserThreshold:
    unknown = set(row) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown column(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    sid = str(row.get("id") or "").strip()
    if not sid:
        raise ConfigError(f"{where}: 'id' (the station's name) is missing")
    where = f"{where} ({sid})"
    source = str(row.get("source") or "").strip()
    if not source:
        raise ConfigError(f"{where}: 'source' is missing; say who set these levels (or 'example values')")
    quantity = str(row.get("quantity") or "discharge").strip()
    if quantity not in _CANONICAL:
        raise ConfigError(f"{where}: quantity {quantity!r}; use 'discharge' or 'stage'")
    units = str(row.get("units") or _CANONICAL[quantity]).strip()
    try:
        factor = unit_factor(units, _CANONICAL[quantity])
    except ValueError:
        factor = None
    if factor is None:
        raise ConfigError(f"{where}: units {units!r} are not a {quantity} unit; use e.g. "
                          f"{'m3 s-1, ft3 s-1 or cfs' if quantity == 'discharge' else 'm or ft'}")
    raw = [_number(row.get(c), f"{where}: {c}") for c in COLOURS]
    levels = tuple(None if v is None else v * factor for v in raw)
    given = [v for v in levels if v is not None]
    if not given:
        raise ConfigError(f"{where}: no level given; fill at least one of {', '.join(COLOURS)}")
    if given != sorted(given):
        raise ConfigError(f"{where}: levels must rise blue <= yellow <= orange <= red, got {raw}")
    feature = row.get("feature_id")
    feature_id = None if feature is None or str(feature).strip() == "" else _integer(feature, f"{where}: feature_id")
    section = str(row.get("section") or "").strip() or None
    if (feature_id is None) == (section is None):
        raise ConfigError(f"{where}: give exactly one of feature_id (a network segment) or section (a control section)")
    return UserThreshold(sid, quantity, levels, source, feature_id, section, str(row.get("name") or "").strip())


def _integer(value, where: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an integer id") from None


def read_thresholds(path: Path) -> list[UserThreshold]:
    """The stations of a thresholds CSV or TOML (module docstring); one ConfigError naming the file, the row or
    table and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: warning thresholds file not found")
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        if set(doc) - {"threshold"} or not isinstance(doc.get("threshold"), list):
            raise ConfigError(f"{path}: expected [[threshold]] tables only, got keys {sorted(doc)}")
        rows = [(f"{path}: threshold[{k}]", row) for k, row in enumerate(doc["threshold"])]
    else:
        table = read_table(path, "warning thresholds table", error_class=ConfigError)
        rows = [(f"{path}: line {line}", row) for line, row in table.records()]
    stations = [_threshold(row, where) for where, row in rows]
    if not stations:
        raise ConfigError(f"{path}: no stations")
    ids = [s.id for s in stations]
    duplicate = sorted({i for i in ids if ids.count(i) > 1})
    if duplicate:
        raise ConfigError(f"{path}: duplicate station id(s) {duplicate}")
    return stations
