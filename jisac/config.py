"""Job configuration: the typed, frozen view of one resolved Hydra config.

``job_from_dict`` is the single gate between Hydra (DictConfig -> plain dict at the edge) and
the library. It validates everything -- unknown keys, ranges, scheme names valid for the
scenario kind -- and raises :class:`ConfigError` naming the key before any compile or solve.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config_errors import ConfigError
from .scenarios import SimScenario, TrisScenario, scenario_from_dict, scenario_to_dict
from .schemes import scheme_from_dict

#: scenario keys read only by paper 004's discretisation phase (31)-(32), not by the continuous
#: L-BCD iterations: :meth:`JobConfig.design_seed` leaves them out
DISCRETIZATION_ONLY_KEYS = ("phase_bits",)
#: (section, key) -> value: keys added after seeds were published, hashed into the job and
#: design seeds only when set away from this value, so that adding a knob does not reseed (and
#: so unpair from their archives) the configs that leave it at its default
SEED_NEUTRAL_DEFAULTS = {("scheme", "polish_rounds"): 3,
                         ("scheme", "shared_design"): False,
                         ("scheme", "norm_starts"): ["paper"],
                         ("scheme", "polish_screen"): "coupling",
                         ("scheme", "outage_couplings"): 0,
                         ("scheme", "sinr_floor"): "beams",
                         ("scheme", "ce_time"): "fixed",
                         # no archived baseline job had an unreachable floor (detection_capped
                         # false in all of docs/results), so "infeasible" pairs with them
                         ("scheme", "detection_unreachable"): "infeasible"}
TOP_LEVEL_KEYS = {"scenario", "scheme", "seed", "n_drops", "mc_draws", "mc_chunk", "x64", "sweep"}


@dataclass(frozen=True)
class JobConfig:
    scenario: TrisScenario | SimScenario
    scheme: Any  # a frozen scheme-parameter dataclass from jisac.schemes
    seed: int = 0
    n_drops: int = 1
    mc_draws: int = 100_000
    mc_chunk: int = 10_000
    x64: bool = True
    sweep: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            "scenario": scenario_to_dict(self.scenario),
            "scheme": asdict(self.scheme),
            "seed": self.seed,
            "n_drops": self.n_drops,
            "mc_draws": self.mc_draws,
            "mc_chunk": self.mc_chunk,
            "x64": self.x64,
            "sweep": dict(self.sweep),
        }

    def job_seed(self) -> int:
        """Seed of this job: a hash of the sweep seed and every parameter of the job.

        Two jobs of one sweep that differ in any parameter get independent streams; the same
        config always gets the same seed (determinism across runs and machines).
        """
        d = _seed_dict(self)
        return _hash_seed(d)

    def design_seed(self) -> int:
        """Seed of the design stream: :meth:`job_seed` with the scenario keys that only the
        discretisation phase reads (``DISCRETIZATION_ONLY_KEYS``: paper 004's phase resolution
        ``phase_bits``) set to their defaults. Jobs that differ only in the phase resolution
        then run the same continuous L-BCD (cached in process, so a Fig.-9 sweep solves it once
        per drop) and differ only in its discretisation; at the default resolution the design
        seed is the job seed."""
        d = _seed_dict(self)
        defaults = {f.name: f.default for f in dataclasses.fields(type(self.scenario))}
        for k in DISCRETIZATION_ONLY_KEYS:
            if k in d["scenario"] and k in defaults:
                d["scenario"][k] = defaults[k]
        return _hash_seed(d)

    def paired_scenario_keys(self) -> tuple[str, ...]:
        """Scenario keys a figure sweep varies along its axes (``sweep.x`` and ``sweep.series``,
        those under ``scenario.``), without the prefix: :meth:`drops_seed` leaves them out."""
        axes = [self.sweep.get("x")] + list(self.sweep.get("series") or [])
        return tuple(sorted({a.split(".", 1)[1] for a in axes
                             if isinstance(a, str) and a.startswith("scenario.")}))

    def drops_seed(self) -> int:
        """Seed of the channel drops: a hash of the sweep seed, ``n_drops`` and the scenario
        *except* the keys on the sweep's axes (:meth:`paired_scenario_keys`).

        Jobs that differ only in the scheme (or the Monte-Carlo settings) see the *same* drops,
        so schemes are compared on common random channels (paired comparison); so do the points
        along a figure's x axis and series (common random numbers: the drops then differ only
        through the swept parameter itself, e.g. the LU fading of paper 000 is the same at every
        P_t; a swept shape such as N draws new channels anyway). Outside a figure sweep every
        scenario key enters. The design stream comes from :meth:`design_seed`, the
        certification stream from :meth:`job_seed`.
        """
        d = self.to_dict()
        scen = {k: v for k, v in d["scenario"].items() if k not in self.paired_scenario_keys()}
        return _hash_seed({"scenario": scen, "seed": d["seed"], "n_drops": d["n_drops"]})


def without_neutral_defaults(d: Mapping[str, Any]) -> dict:
    """A copy of the config dict ``d`` without the seed-neutral keys at their default
    (``SEED_NEUTRAL_DEFAULTS``): a config written before such a key existed and one that sets it
    to its default then compare (and hash) equal."""
    d = {k: dict(v) if isinstance(v, Mapping) else v for k, v in d.items()}
    for (section, key), default in SEED_NEUTRAL_DEFAULTS.items():
        sec = d.get(section)
        # a tuple (dataclass) and a list (config.yaml) of the same names are the same setting
        if isinstance(sec, dict) and key in sec and (
                list(sec[key]) if isinstance(sec[key], tuple) else sec[key]) == default:
            del sec[key]
    return d


def _seed_dict(job: JobConfig) -> dict:
    """``job.to_dict()`` without ``sweep`` and without the seed-neutral keys at their default."""
    d = job.to_dict()
    d.pop("sweep", None)
    return without_neutral_defaults(d)


def _hash_seed(d: Mapping[str, Any]) -> int:
    blob = json.dumps(d, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


def _int(key, v, lo, hi=None):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        raise ConfigError(key, v, f"must be an integer in [{lo}, {hi if hi is not None else 'inf'}]")


def job_from_dict(d: Mapping[str, Any]) -> JobConfig:
    """Validate a plain dict (resolved Hydra config, ``hydra`` key removed) into a JobConfig."""
    d = {k: v for k, v in dict(d).items() if k != "hydra"}
    for k in d:
        if k not in TOP_LEVEL_KEYS:
            raise ConfigError(k, d[k], f"unknown top-level key; allowed: {sorted(TOP_LEVEL_KEYS)}")
    if "scenario" not in d or not isinstance(d["scenario"], Mapping):
        raise ConfigError("scenario", d.get("scenario"), "must be a scenario config group (scenario=tris_rsma or scenario=sim_isac)")
    if "scheme" not in d or not isinstance(d["scheme"], Mapping):
        raise ConfigError("scheme", d.get("scheme"), "must be a scheme config group (e.g. scheme=mrt)")
    scenario = scenario_from_dict(d["scenario"])
    scheme = scheme_from_dict(d["scheme"], scenario.kind)
    seed = d.get("seed", 0)
    _int("seed", seed, 0, 2**31 - 1)
    n_drops = d.get("n_drops", 1)
    _int("n_drops", n_drops, 1, 100_000)
    mc_draws = d.get("mc_draws", 100_000)
    _int("mc_draws", mc_draws, 1, 10**9)
    mc_chunk = d.get("mc_chunk", 10_000)
    _int("mc_chunk", mc_chunk, 1, 10**7)
    x64 = d.get("x64", True)
    if not isinstance(x64, bool):
        raise ConfigError("x64", x64, "must be true or false")
    sweep = d.get("sweep") or {}
    if not isinstance(sweep, Mapping):
        raise ConfigError("sweep", sweep, "must be a mapping (a conf/sweep/<name>.yaml group)")
    return JobConfig(scenario, scheme, seed, n_drops, mc_draws, mc_chunk, x64, dict(sweep))
