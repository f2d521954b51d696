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


_RSMA_POWER = ("element", "total")
_RSMA_SOLVERS = ("Clarabel", "SCS")


@dataclass(frozen=True)
class RsmaParams:
    """Paper-000 proposed robust TRIS-RSMA design, Algorithm 1 (conf/scheme/rsma.yaml).

    ``power``: "element" (TRIS, (34d)) or "total" (traditional transceiver, TRSMA);
    ``robust``: false is the perfect-CSI variant; ``detection``: the detection constraint (62)
    (true in the paper; false only as an explicit, recorded departure);
    ``max_iterations``/``tol``: null -> scenario.max_iterations / scenario.convergence_eps;
    ``solver``: first conic solver (the other one is the fallback); ``n_random``: Gaussian
    randomisations of the rank-1 recovery; ``rank_one_repair``: power repair of the rank-1 beams
    with their directions fixed ("infeasible": only when no candidate is feasible; "always";
    "off"; docs/derivations/tris_rsma.md, "Rank-1 recovery and power repair").
    """

    name: str = "rsma"
    power: str = "element"
    robust: bool = True
    detection: bool = True
    max_iterations: int | None = None
    tol: float | None = None
    solver: str = "Clarabel"
    n_random: int = 20
    rank_one_repair: str = "infeasible"

    def __post_init__(self):
        if self.rank_one_repair not in ("infeasible", "always", "off"):
            raise ConfigError("scheme.rank_one_repair", self.rank_one_repair,
                              "must be one of ['infeasible', 'always', 'off']")
        if self.power not in _RSMA_POWER:
            raise ConfigError("scheme.power", self.power, f"must be one of {list(_RSMA_POWER)}")
        for k in ("robust", "detection"):
            if not isinstance(getattr(self, k), bool):
                raise ConfigError(f"scheme.{k}", getattr(self, k), "must be true or false")
        if self.max_iterations is not None and (isinstance(self.max_iterations, bool)
                                                or not isinstance(self.max_iterations, int)
                                                or not 1 <= self.max_iterations <= 1000):
            raise ConfigError("scheme.max_iterations", self.max_iterations,
                              "must be null or an integer in [1, 1000]")
        if self.tol is not None and (isinstance(self.tol, bool) or not isinstance(self.tol, (int, float))
                                     or not 0.0 < self.tol < 1.0):
            raise ConfigError("scheme.tol", self.tol, "must be null or lie in (0, 1)")
        if self.solver not in _RSMA_SOLVERS:
            raise ConfigError("scheme.solver", self.solver, f"must be one of {list(_RSMA_SOLVERS)}")
        if isinstance(self.n_random, bool) or not isinstance(self.n_random, int) or not 0 <= self.n_random <= 10000:
            raise ConfigError("scheme.n_random", self.n_random, "must be an integer in [0, 10000]")
        if self.name == "trsma" and self.power != "total":
            raise ConfigError("scheme.power", self.power, "trsma is the total-power variant: must be 'total'")
        if self.name == "perfect_csi" and self.robust:
            raise ConfigError("scheme.robust", self.robust, "perfect_csi is the non-robust variant: must be false")


@dataclass(frozen=True)
class TrsmaParams(RsmaParams):
    name: str = "trsma"
    power: str = "total"


@dataclass(frozen=True)
class PerfectCsiParams(RsmaParams):
    name: str = "perfect_csi"
    robust: bool = False


# copy of jisac.algorithms.tris_baselines.common.DETECTION_UNREACHABLE (the config layer does not
# import the solvers; tests/test_config.py checks that they agree)
_DETECTION_UNREACHABLE = ("infeasible", "cap")


@dataclass(frozen=True)
class TrisAnParams:
    """Paper-000 Sec.-V AN baselines (conf/scheme/{zf_an,sdp_an,sdma_an,noma_an}.yaml).

    ``max_iterations``/``tol``: null -> scenario.max_iterations / scenario.convergence_eps
    (SCA blocks per slot); ``n_randomizations``: Gaussian randomisations of the rank-1
    recovery; ``detection_unreachable``: what a drop whose (62) power floor exceeds what the
    array can radiate (N P_t) gets: ``infeasible`` (default; status ``infeasible``, as the
    proposed scheme) or ``cap`` (designed with the floor capped at ``detection_cap * N * P_t``,
    recorded in the design info; the behaviour before 8 Dec 2026); docs/derivations/
    tris_baselines.md, "Detection floor (62)".
    """

    name: str = "sdma_an"
    max_iterations: int | None = None
    tol: float | None = None
    n_randomizations: int = 30
    detection_cap: float = 1.0
    detection_unreachable: str = "infeasible"

    def __post_init__(self):
        if self.max_iterations is not None and (isinstance(self.max_iterations, bool)
                                                or not isinstance(self.max_iterations, int)
                                                or not 1 <= self.max_iterations <= 1000):
            raise ConfigError("scheme.max_iterations", self.max_iterations,
                              "must be null or an integer in [1, 1000]")
        if self.tol is not None and (isinstance(self.tol, bool) or not isinstance(self.tol, (int, float))
                                     or not 0.0 < self.tol < 1.0):
            raise ConfigError("scheme.tol", self.tol, "must be null or lie in (0, 1)")
        if (isinstance(self.n_randomizations, bool) or not isinstance(self.n_randomizations, int)
                or not 0 <= self.n_randomizations <= 10000):
            raise ConfigError("scheme.n_randomizations", self.n_randomizations,
                              "must be an integer in [0, 10000]")
        if (isinstance(self.detection_cap, bool) or not isinstance(self.detection_cap, (int, float))
                or not 0.0 < self.detection_cap <= 1.0):
            raise ConfigError("scheme.detection_cap", self.detection_cap, "must lie in (0, 1]")
        if not isinstance(self.detection_unreachable, str) or \
                self.detection_unreachable not in _DETECTION_UNREACHABLE:
            raise ConfigError("scheme.detection_unreachable", self.detection_unreachable,
                              f"must be one of {list(_DETECTION_UNREACHABLE)}")


@dataclass(frozen=True)
class ZfAnParams(TrisAnParams):
    name: str = "zf_an"


@dataclass(frozen=True)
class SdpAnParams(TrisAnParams):
    name: str = "sdp_an"


@dataclass(frozen=True)
class SdmaAnParams(TrisAnParams):
    name: str = "sdma_an"


@dataclass(frozen=True)
class NomaAnParams(TrisAnParams):
    name: str = "noma_an"


_LBCD_ORDERS = ("ABCDE", "EDABC")
_LBCD_STARTS = ("paper", "sensing")     # jisac.algorithms.sim_lbcd.lbcd.START_NAMES
_POLISH_SCREENS = ("design", "coupling")  # jisac.algorithms.sim_lbcd.lbcd.POLISH_SCREENS
_SINR_FLOORS = ("beams", "sdr")            # jisac.algorithms.sim_lbcd.block_d.SINR_FLOORS
_CE_TIMES = ("fixed", "radius")            # jisac.algorithms.sim_lbcd.lbcd.CE_TIMES


@dataclass(frozen=True)
class LbcdParams:
    """Paper-004 L-BCD (Algorithm 1) and its Sec.-V baselines (conf/scheme/lbcd.yaml).

    ``alpha = None`` takes ``scenario.alpha``; ``max_iterations = None`` takes
    ``scenario.max_iterations``; ``r_max``/``crb_min`` (both or neither) skip the normalisation
    runs (two extra L-BCD solves per drop). ``order``: block order of one iteration.
    ``starts``: starting points of L-BCD (lbcd, nr_lbcd, sl_ris; the best final design is kept):
    ``paper`` (Algorithm 1's initialisation) and/or ``sensing`` (sensing-only SIM phases);
    ts/cf/sf have fixed starting points and ignore it. ``polish_rounds``: rounds of Blocks B
    and D after the discretisation when the discrete design breaks the outage target (11)
    (robust runs with Block B only; 0 = off; docs/derivations/sim_lbcd.md, "Discretisation").
    ``shared_design``: design drop 0 only and evaluate/certify that one design on every drop
    (``jisac.designs.sim_lbcd.run_drops``): paper-004 drops differ only in the Rician evaluation
    coupling (10), which no design reads, so ``n_drops`` then averages over coupling
    realisations at the cost of one design (docs/sweeps.md, "Drops of a SIM job").
    ``norm_starts``: starting points of the communication-only alpha = 0 run behind ``R_max``
    (one run from each; the robust one with the largest secrecy throughput is the benchmark;
    default ``[paper]``, Algorithm 1's start; ignored when ``r_max`` is given). Every scheme
    of a sweep point must use the same value to share one normalisation.
    ``polish_screen``: what triggers and ranks the outage polish: ``coupling`` (default; the
    design model and the outage averaged over Rician coupling draws (10), as the start
    selection) or ``design`` (the design model only, the driver before 7 Dec 2026 evening).
    ``outage_couplings``: Rician coupling realisations (10) over which Blocks B and D draw the
    Monte-Carlo samples of the outage surrogate (25) (0, default: the paper's model, the
    design coupling only; robust schemes; docs/derivations/sim_lbcd.md, "Coupling-aware outage
    rows"). It also enters the alpha = 0 normaliser run, so, as for ``norm_starts``, every
    scheme of a sweep point must use the same value to share one normalisation (or pass
    ``r_max`` / ``crb_min``).
    ``sinr_floor``: Block D's lower bound on the communication power when the current beams
    cannot meet the robust SINR (23j) at any power: ``beams`` (default; none, the driver before
    8 Dec 2026) or ``sdr`` (the least power at which some beams meet it, so that Block B's SDR
    stays feasible; docs/derivations/sim_lbcd.md, "SINR floor when the beams cannot meet
    (23j)"). Enters the normaliser run like ``outage_couplings``.
    ``ce_time``: Block D's training time: ``fixed`` (default; held at its lower bound, Block E's
    CSI radius taken as fixed, the driver before 8 Dec 2026) or ``radius`` (D chooses it too,
    with E's radius scaled as ``tau_ce^(-1/2)``, E's model; docs/derivations/sim_lbcd.md,
    "Training time and the CSI radius"). Enters the normaliser run like ``outage_couplings``.
    """

    name: str = "lbcd"
    alpha: float | None = None
    robust: bool = True
    max_iterations: int | None = None
    tol: float = 1e-3
    discretize: bool = True
    order: str = "ABCDE"
    r_max: float | None = None
    crb_min: float | None = None
    starts: tuple[str, ...] = _LBCD_STARTS
    polish_rounds: int = 3
    shared_design: bool = False
    norm_starts: tuple[str, ...] = ("paper",)
    polish_screen: str = "coupling"
    outage_couplings: int = 0
    sinr_floor: str = "beams"
    ce_time: str = "fixed"

    def __post_init__(self):
        for key in ("starts", "norm_starts"):
            starts = getattr(self, key)
            if (isinstance(starts, str) or not isinstance(starts, (list, tuple)) or not starts
                    or len(set(starts)) != len(starts) or not set(starts) <= set(_LBCD_STARTS)):
                raise ConfigError(f"scheme.{key}", starts, "must be a non-empty list of distinct "
                                  f"names from {list(_LBCD_STARTS)}")
            object.__setattr__(self, key, tuple(starts))
        if self.alpha is not None and (isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float))
                                       or not 0.0 <= self.alpha <= 1.0):
            raise ConfigError("scheme.alpha", self.alpha, "must be null or lie in [0, 1]")
        if not isinstance(self.robust, bool):
            raise ConfigError("scheme.robust", self.robust, "must be true or false")
        if self.name == "nr_lbcd" and self.robust:
            raise ConfigError("scheme.robust", self.robust, "nr_lbcd is the non-robust variant: must be false")
        if self.max_iterations is not None and (isinstance(self.max_iterations, bool)
                                                or not isinstance(self.max_iterations, int)
                                                or not 1 <= self.max_iterations <= 1000):
            raise ConfigError("scheme.max_iterations", self.max_iterations, "must be null or an integer in [1, 1000]")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not 0.0 < self.tol < 1.0:
            raise ConfigError("scheme.tol", self.tol, "must lie in (0, 1)")
        if not isinstance(self.discretize, bool):
            raise ConfigError("scheme.discretize", self.discretize, "must be true or false")
        if self.order not in _LBCD_ORDERS:
            raise ConfigError("scheme.order", self.order, f"must be one of {list(_LBCD_ORDERS)}")
        for k in ("r_max", "crb_min"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not (v > 0 and v < float("inf"))):
                raise ConfigError(f"scheme.{k}", v, "must be null or a finite number > 0")
        if (isinstance(self.polish_rounds, bool) or not isinstance(self.polish_rounds, int)
                or not 0 <= self.polish_rounds <= 20):
            raise ConfigError("scheme.polish_rounds", self.polish_rounds,
                              "must be an integer in [0, 20]")
        if self.polish_screen not in _POLISH_SCREENS:
            raise ConfigError("scheme.polish_screen", self.polish_screen,
                              f"must be one of {list(_POLISH_SCREENS)}")
        if (isinstance(self.outage_couplings, bool) or not isinstance(self.outage_couplings, int)
                or not 0 <= self.outage_couplings <= 256):
            raise ConfigError("scheme.outage_couplings", self.outage_couplings,
                              "must be an integer in [0, 256] (0 = design coupling only)")
        if self.sinr_floor not in _SINR_FLOORS:
            raise ConfigError("scheme.sinr_floor", self.sinr_floor,
                              f"must be one of {list(_SINR_FLOORS)}")
        if self.ce_time not in _CE_TIMES:
            raise ConfigError("scheme.ce_time", self.ce_time, f"must be one of {list(_CE_TIMES)}")
        if not isinstance(self.shared_design, bool):
            raise ConfigError("scheme.shared_design", self.shared_design, "must be true or false")
        if (self.r_max is None) != (self.crb_min is None):
            raise ConfigError("scheme.crb_min" if self.crb_min is None else "scheme.r_max", None,
                              "r_max and crb_min must be given together (or both null)")


@dataclass(frozen=True)
class NrLbcdParams(LbcdParams):
    """NR-LBCD: L-BCD with the non-robust Block B (``robust = False``), nothing else changed."""

    name: str = "nr_lbcd"
    robust: bool = False


@dataclass(frozen=True)
class TsParams(LbcdParams):
    name: str = "ts"


@dataclass(frozen=True)
class CfParams(LbcdParams):
    name: str = "cf"


@dataclass(frozen=True)
class SfParams(LbcdParams):
    name: str = "sf"


@dataclass(frozen=True)
class SlRisParams(LbcdParams):
    name: str = "sl_ris"


@dataclass(frozen=True)
class SchemeEntry:
    params: type
    design: str  # "module:function", imported on use


# kind -> name -> entry. Later issues add their optimisers here.
REGISTRY: dict[str, dict[str, SchemeEntry]] = {
    "tris_rsma": {
        "mrt": SchemeEntry(MrtParams, "jisac.designs.tris:design"),
        "rsma": SchemeEntry(RsmaParams, "jisac.designs.tris_rsma:design"),
        "trsma": SchemeEntry(TrsmaParams, "jisac.designs.tris_rsma:design"),
        "perfect_csi": SchemeEntry(PerfectCsiParams, "jisac.designs.tris_rsma:design"),
        "zf_an": SchemeEntry(ZfAnParams, "jisac.designs.tris_baselines:design_zf_an"),
        "sdp_an": SchemeEntry(SdpAnParams, "jisac.designs.tris_baselines:design_sdp_an"),
        "sdma_an": SchemeEntry(SdmaAnParams, "jisac.designs.tris_baselines:design_sdma_an"),
        "noma_an": SchemeEntry(NomaAnParams, "jisac.designs.tris_baselines:design_noma_an"),
    },
    "sim_isac": {
        "mrt": SchemeEntry(MrtParams, "jisac.designs.sim:design"),
        "lbcd": SchemeEntry(LbcdParams, "jisac.designs.sim_lbcd:design_lbcd"),
        "nr_lbcd": SchemeEntry(NrLbcdParams, "jisac.designs.sim_lbcd:design_lbcd"),
        "ts": SchemeEntry(TsParams, "jisac.designs.sim_lbcd:design_ts"),
        "cf": SchemeEntry(CfParams, "jisac.designs.sim_lbcd:design_cf"),
        "sf": SchemeEntry(SfParams, "jisac.designs.sim_lbcd:design_sf"),
        "sl_ris": SchemeEntry(SlRisParams, "jisac.designs.sim_lbcd:design_sl_ris"),
    },
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
