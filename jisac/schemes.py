"""Registry of design schemes: which names exist for which scenario kind, and their parameters.

A scheme is selected by ``scheme=<name>`` on the command line. Each entry has a frozen
parameter dataclass (validated like scenarios) and a design function
``design(system, scenario, params, key) -> (Design, status)`` imported lazily so that config
validation never imports the solvers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from .config_errors import ConfigError


@dataclass(frozen=True)
class MrtParams:
    """Simple feasible reference design (see conf/scheme/mrt.yaml)."""

    name: str = "mrt"
    common_fraction: float = 0.3
    an_fraction: float = 0.2

    def __post_init__(self):
        for k in ("common_fraction", "an_fraction"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise ConfigError(f"scheme.{k}", v, "must lie in [0, 1)")


@dataclass(frozen=True)
class SchemeEntry:
    params: type
    design: str  # "module:function", imported on use


# kind -> name -> entry. Later issues add their optimisers here.
REGISTRY: dict[str, dict[str, SchemeEntry]] = {
    "tris_rsma": {"mrt": SchemeEntry(MrtParams, "jisac.designs.tris:design")},
    "sim_isac": {"mrt": SchemeEntry(MrtParams, "jisac.designs.sim:design")},
}


def scheme_from_dict(d: Mapping[str, Any], kind: str):
    d = dict(d)
    name = d.get("name")
    allowed = REGISTRY.get(kind, {})
    if name not in allowed:
        raise ConfigError("scheme.name", name, f"unknown scheme for scenario kind '{kind}'; allowed: {sorted(allowed)}")
    cls = allowed[name].params
    names = {f.name for f in fields(cls)}
    for k in d:
        if k not in names:
            raise ConfigError(f"scheme.{k}", d[k], f"unknown key for scheme '{name}'; allowed: {sorted(names)}")
    return cls(**d)


def design_function(kind: str, name: str) -> Callable:
    mod, fn = REGISTRY[kind][name].design.split(":")
    return getattr(importlib.import_module(mod), fn)
