"""Registry of swappable methods, one namespace per kind (routing, runoff, reservoir, ...).

Configs and options name methods by string. Unknown names raise and list what exists; registering a
name twice is an error. The built-in methods register on first use (their modules are imported by name
here, so core depends on no model package); third-party packages add methods through entry points
``hydro.<kind>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from .errors import ConfigError, UnknownMethodError

T = TypeVar("T")
_REGISTRY: dict[str, dict[str, object]] = {}
_ENTRY_POINTS_LOADED = False
# the modules whose import registers the built-in methods
_BUILTIN_MODULES = ("hydro.runoff", "hydro.routing.channel", "hydro.nowcast.sprog")


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class/function decorator adding ``obj`` to the registry under ``kind``/``name``."""

    def deco(obj: T) -> T:
        table = _REGISTRY.setdefault(kind, {})
        key = name.lower()
        if key in table and table[key] is not obj:
            raise ConfigError(f"{kind} method {name!r} is registered twice")
        table[key] = obj
        return obj

    return deco


def _load_entry_points_once() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for kind in ("routing", "runoff", "reservoir", "nowcast", "reader"):
        for ep in entry_points(group=f"hydro.{kind}"):
            register(kind, ep.name)(ep.load())


def get_method(kind: str, name: str) -> object:
    """Return the method registered as ``name`` for ``kind``; raise listing the known names."""
    _load_entry_points_once()
    try:
        return _REGISTRY[kind][name.lower()]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY.get(kind, {}))) or "none"
        raise UnknownMethodError(f"unknown {kind} method {name!r}; available: {known}") from None


def methods() -> dict[str, list[str]]:
    """All registered methods, by kind."""
    _load_entry_points_once()
    return {kind: sorted(table) for kind, table in sorted(_REGISTRY.items())}
