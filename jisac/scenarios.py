"""Typed, frozen, validated scenarios: the static parameters of each paper's system.

A Scenario holds numbers only (positions, array sizes, powers, noise, error bounds,
thresholds), in the units of the config files (dB, dBm, degrees, ms where the papers use
them). Everything is validated once, in ``__post_init__``, with a :class:`ConfigError`
that names the dotted key and the allowed range. Conversion to SI/linear happens in the
``*_si`` properties, so the library below never sees dB.

Two scenario kinds exist:

* :class:`TrisScenario` -- paper 000, Table I and Sec. V.
* :class:`SimScenario` -- paper 004, Sec. V.

Values a paper leaves out are documented (with their source) in ``conf/scenario/*.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .config_errors import ConfigError

# --------------------------------------------------------------------------------------------
# validation helpers


def _finite(key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(key, v, "must be a finite number")


def _positive(key, v):
    _finite(key, v)
    if v <= 0:
        raise ConfigError(key, v, "must be > 0")


def _nonneg(key, v):
    _finite(key, v)
    if v < 0:
        raise ConfigError(key, v, "must be >= 0")


def _prob_open(key, v):
    _finite(key, v)
    if not 0.0 < v < 1.0:
        raise ConfigError(key, v, "must be a probability in the open interval (0, 1)")


def _in_range(key, v, lo, hi):
    _finite(key, v)
    if not lo <= v <= hi:
        raise ConfigError(key, v, f"must lie in [{lo}, {hi}]")


def _pos_int(key, v, lo=1, hi=None):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ConfigError(key, v, f"must be an integer {rng}")


def _points(key, pts, n_expected=None):
    """A list of (distance_m, azimuth_deg, pitch_deg) triples."""
    if not isinstance(pts, (list, tuple)) or len(pts) == 0:
        raise ConfigError(key, pts, "must be a non-empty list of [distance_m, azimuth_deg, pitch_deg]")
    for i, p in enumerate(pts):
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            raise ConfigError(f"{key}[{i}]", p, "must be [distance_m, azimuth_deg, pitch_deg]")
        _positive(f"{key}[{i}][0] (distance_m)", p[0])
        _in_range(f"{key}[{i}][1] (azimuth_deg)", p[1], -180.0, 180.0)
        _in_range(f"{key}[{i}][2] (pitch_deg)", p[2], 0.0, 90.0)
    if n_expected is not None and len(pts) != n_expected:
        raise ConfigError(key, pts, f"must hold exactly {n_expected} points")


def _db_to_lin(x):
    return 10.0 ** (x / 10.0)


def _dbm_to_w(x):
    return 10.0 ** ((x - 30.0) / 10.0)


# --------------------------------------------------------------------------------------------
# paper 000: TRIS-RSMA


@dataclass(frozen=True)
class TrisScenario:
    """Paper 000 scenario (Table I, Sec. V). Units as in the config file."""

    kind: str = "tris_rsma"
    carrier_ghz: float = 30.0
    n_rows: int = 4
    n_cols: int = 4
    n_elements: int = 16
    spacing_over_lambda: float = 0.5
    p_t_dbm: float = 0.0
    bandwidth_mhz: float = 20.0
    n_slots: int = 5
    t_min_ms: float = 0.5
    t_max_ms: float = 3.5
    t_total_ms: float = 10.0
    noise_lu_dbm: float = -90.0
    noise_iu_dbm: float = -90.0
    lu_positions: tuple = ((50.0, 22.5, 10.0), (70.0, 45.0, 20.0), (90.0, 67.5, 30.0))
    iu_positions: tuple = ((65.0, 35.0, 25.0), (85.0, 55.0, 35.0))
    rician_k_db: float = 10.0
    eps_lu: float = 0.1
    eps_iu_factor: float = 0.1
    error_exceed_prob: float = 0.01
    iu_distance_error_m: float = 1.0
    iu_pitch_error_deg: float = 1.0
    iu_azimuth_error_deg: float = 1.0
    r_s: float = 0.5
    r_e: float = 0.25
    p_out_lu: float = 0.02
    p_out_iu: float = 0.01
    p_fa: float = 1e-4
    p_d: float = 0.8
    rcs_m2: float = 1.0
    radar_noise_dbm: float = -143.0
    beampattern_error: float = 0.5
    scan_sector_deg: tuple = (10.0, 80.0)
    scan_pitch_deg: float = 20.0
    convergence_eps: float = 1e-3
    max_iterations: int = 20
    power_model: Mapping[str, float] = field(
        default_factory=lambda: {
            "pa_efficiency": 0.35,
            "p_static_w": 0.5,
            "p_tris_element_w": 0.005,
            "p_rf_chain_w": 0.1,
        }
    )

    def __post_init__(self):
        p = "scenario"
        if self.kind != "tris_rsma":
            raise ConfigError(f"{p}.kind", self.kind, "must be 'tris_rsma' for a TrisScenario")
        _in_range(f"{p}.carrier_ghz", self.carrier_ghz, 0.1, 1000.0)
        _pos_int(f"{p}.n_rows", self.n_rows, 1, 64)
        _pos_int(f"{p}.n_cols", self.n_cols, 1, 64)
        _pos_int(f"{p}.n_elements", self.n_elements, 1, 4096)
        if self.n_elements != self.n_rows * self.n_cols:
            raise ConfigError(
                f"{p}.n_elements", self.n_elements,
                f"must equal n_rows * n_cols = {self.n_rows} * {self.n_cols} = {self.n_rows * self.n_cols}",
            )
        _in_range(f"{p}.spacing_over_lambda", self.spacing_over_lambda, 0.05, 4.0)
        _in_range(f"{p}.p_t_dbm", self.p_t_dbm, -60.0, 60.0)
        _positive(f"{p}.bandwidth_mhz", self.bandwidth_mhz)
        _pos_int(f"{p}.n_slots", self.n_slots, 1, 64)
        _positive(f"{p}.t_min_ms", self.t_min_ms)
        _positive(f"{p}.t_max_ms", self.t_max_ms)
        _positive(f"{p}.t_total_ms", self.t_total_ms)
        if self.t_max_ms < self.t_min_ms:
            raise ConfigError(f"{p}.t_max_ms", self.t_max_ms, f"must be >= t_min_ms = {self.t_min_ms}")
        if self.n_slots * self.t_min_ms > self.t_total_ms:
            raise ConfigError(
                f"{p}.t_total_ms", self.t_total_ms,
                f"must be >= n_slots * t_min_ms = {self.n_slots * self.t_min_ms} (34e-34f infeasible otherwise)",
            )
        for k in ("noise_lu_dbm", "noise_iu_dbm", "radar_noise_dbm"):
            _in_range(f"{p}.{k}", getattr(self, k), -200.0, 50.0)
        _points(f"{p}.lu_positions", self.lu_positions)
        _points(f"{p}.iu_positions", self.iu_positions)
        _in_range(f"{p}.rician_k_db", self.rician_k_db, -30.0, 40.0)
        _nonneg(f"{p}.eps_lu", self.eps_lu)
        _nonneg(f"{p}.eps_iu_factor", self.eps_iu_factor)
        _prob_open(f"{p}.error_exceed_prob", self.error_exceed_prob)
        _nonneg(f"{p}.iu_distance_error_m", self.iu_distance_error_m)
        for i, pos in enumerate(self.iu_positions):
            if self.iu_distance_error_m >= pos[0]:
                raise ConfigError(
                    f"{p}.iu_distance_error_m", self.iu_distance_error_m,
                    f"must be < the distance of IU {i} ({pos[0]} m)",
                )
        _in_range(f"{p}.iu_pitch_error_deg", self.iu_pitch_error_deg, 0.0, 45.0)
        _in_range(f"{p}.iu_azimuth_error_deg", self.iu_azimuth_error_deg, 0.0, 45.0)
        _positive(f"{p}.r_s", self.r_s)
        _positive(f"{p}.r_e", self.r_e)
        for k in ("p_out_lu", "p_out_iu", "p_fa", "p_d"):
            _prob_open(f"{p}.{k}", getattr(self, k))
        _positive(f"{p}.rcs_m2", self.rcs_m2)
        _nonneg(f"{p}.beampattern_error", self.beampattern_error)
        if len(self.scan_sector_deg) != 2 or self.scan_sector_deg[0] >= self.scan_sector_deg[1]:
            raise ConfigError(f"{p}.scan_sector_deg", self.scan_sector_deg, "must be [low_deg, high_deg] with low < high")
        _in_range(f"{p}.scan_pitch_deg", self.scan_pitch_deg, 0.0, 90.0)
        _prob_open(f"{p}.convergence_eps", self.convergence_eps)
        _pos_int(f"{p}.max_iterations", self.max_iterations, 1, 1000)
        pm = dict(self.power_model)
        allowed = {"pa_efficiency", "p_static_w", "p_tris_element_w", "p_rf_chain_w"}
        for k in pm:
            if k not in allowed:
                raise ConfigError(f"{p}.power_model.{k}", pm[k], f"unknown key; allowed: {sorted(allowed)}")
        for k in allowed:
            if k not in pm:
                raise ConfigError(f"{p}.power_model.{k}", None, "is required")
        _in_range(f"{p}.power_model.pa_efficiency", pm["pa_efficiency"], 1e-3, 1.0)
        for k in ("p_static_w", "p_tris_element_w", "p_rf_chain_w"):
            _nonneg(f"{p}.power_model.{k}", pm[k])

    # ---- SI / linear views -----------------------------------------------------------------
    @property
    def n_lu(self) -> int:
        return len(self.lu_positions)

    @property
    def n_iu(self) -> int:
        return len(self.iu_positions)

    @property
    def wavelength(self) -> float:
        return 299_792_458.0 / (self.carrier_ghz * 1e9)

    @property
    def p_t(self) -> float:
        """Per-element available power P_t in W (000 eq. (1), (34d))."""
        return _dbm_to_w(self.p_t_dbm)

    @property
    def noise_lu(self) -> float:
        return _dbm_to_w(self.noise_lu_dbm)

    @property
    def noise_iu(self) -> float:
        return _dbm_to_w(self.noise_iu_dbm)

    @property
    def radar_noise(self) -> float:
        return _dbm_to_w(self.radar_noise_dbm)

    @property
    def rician_k(self) -> float:
        return _db_to_lin(self.rician_k_db)

    @property
    def t_min(self) -> float:
        return self.t_min_ms * 1e-3

    @property
    def t_max(self) -> float:
        return self.t_max_ms * 1e-3

    @property
    def t_total(self) -> float:
        return self.t_total_ms * 1e-3


# --------------------------------------------------------------------------------------------
# paper 004: SIM-ISAC


@dataclass(frozen=True)
class SimScenario:
    """Paper 004 scenario (Sec. V). Units as in the config file."""

    kind: str = "sim_isac"
    carrier_ghz: float = 28.0
    n_bs_antennas: int = 32
    bs_rows: int = 4
    n_rf_chains: int = 8
    n_layers: int = 3
    n_per_layer: int = 64
    element_spacing_over_lambda: float = 0.5
    layer_spacing_over_lambda: float = 5.0
    bs_sim_distance_over_lambda: float = 5.0
    interlayer_rician_k: float = 10.0
    user_positions: tuple = ((15.0, 0.0, 40.0), (23.0, 0.0, 10.0), (31.0, 180.0, 15.0), (40.0, 180.0, 45.0))
    eve_positions: tuple = ((20.0, 0.0, 25.0), (35.0, 180.0, 30.0))
    target_positions: tuple = ((25.0, 0.0, 5.0), (30.0, 180.0, 25.0))
    target_velocities_mps: tuple = (5.0, -3.0)
    target_rcs_m2: tuple = (1.0, 1.0)
    pathloss_exponent: float = 2.5
    reference_distance_m: float = 1.0
    reference_gain_db: float = -61.4
    p_bs_max_dbm: float = 30.0
    energy_budget_uj: float = 316.2
    noise_dbm: float = -104.0
    noise_eve_dbm: float = -104.0
    eps_out: float = 0.1
    csi_error_bound: float = 0.05
    eve_error_std: float = 0.1
    r_min: float = 0.1
    sinr_min_db: float = -10.0
    t_slot_ms: float = 1.0
    t_switch_ms: float = 0.02
    tau_min: float = 0.05
    tau_max: float = 0.9
    phase_bits: int = 3
    alpha: float = 0.5
    delta_phi: float = 32.0
    n_ce_configs: int = 16
    # Pilot (CE) sample rate of block E's LS model: n_q = tau_ce T_slot B / Q samples per training
    # configuration, each with noise power `noise`. 10 MHz makes the default noise_dbm = -104 the
    # thermal kTB of that bandwidth (-174 dBm/Hz + 70 dB, 0 dB noise figure).
    pilot_bandwidth_mhz: float = 10.0
    sensing_snapshots: int = 64
    sensing_bandwidth_mhz: float = 100.0
    sensing_subcarriers: int = 8
    max_iterations: int = 20

    def __post_init__(self):
        p = "scenario"
        if self.kind != "sim_isac":
            raise ConfigError(f"{p}.kind", self.kind, "must be 'sim_isac' for a SimScenario")
        _in_range(f"{p}.carrier_ghz", self.carrier_ghz, 0.1, 1000.0)
        _pos_int(f"{p}.n_bs_antennas", self.n_bs_antennas, 1, 1024)
        _pos_int(f"{p}.n_rf_chains", self.n_rf_chains, 1, 1024)
        _pos_int(f"{p}.bs_rows", self.bs_rows, 1, 1024)
        if self.n_bs_antennas % self.bs_rows:
            raise ConfigError(f"{p}.bs_rows", self.bs_rows, f"must divide n_bs_antennas = {self.n_bs_antennas} (BS UPA of bs_rows x M/bs_rows)")
        if self.n_rf_chains > self.n_bs_antennas:
            raise ConfigError(f"{p}.n_rf_chains", self.n_rf_chains, f"must be <= n_bs_antennas = {self.n_bs_antennas}")
        _pos_int(f"{p}.n_layers", self.n_layers, 1, 16)
        _pos_int(f"{p}.n_per_layer", self.n_per_layer, 1, 4096)
        if math.isqrt(self.n_per_layer) ** 2 != self.n_per_layer:
            raise ConfigError(f"{p}.n_per_layer", self.n_per_layer, "must be a perfect square (square UPA layers)")
        for k in ("element_spacing_over_lambda", "layer_spacing_over_lambda", "bs_sim_distance_over_lambda"):
            _positive(f"{p}.{k}", getattr(self, k))
        _nonneg(f"{p}.interlayer_rician_k", self.interlayer_rician_k)
        _points(f"{p}.user_positions", self.user_positions)
        _points(f"{p}.eve_positions", self.eve_positions)
        _points(f"{p}.target_positions", self.target_positions)
        n_t = len(self.target_positions)
        if len(self.target_velocities_mps) != n_t:
            raise ConfigError(f"{p}.target_velocities_mps", self.target_velocities_mps, f"must hold {n_t} values (one per target)")
        if len(self.target_rcs_m2) != n_t:
            raise ConfigError(f"{p}.target_rcs_m2", self.target_rcs_m2, f"must hold {n_t} values (one per target)")
        for i, v in enumerate(self.target_rcs_m2):
            _positive(f"{p}.target_rcs_m2[{i}]", v)
        for i, v in enumerate(self.target_velocities_mps):
            _finite(f"{p}.target_velocities_mps[{i}]", v)
        _in_range(f"{p}.pathloss_exponent", self.pathloss_exponent, 1.0, 6.0)
        _positive(f"{p}.reference_distance_m", self.reference_distance_m)
        _in_range(f"{p}.reference_gain_db", self.reference_gain_db, -200.0, 0.0)
        _in_range(f"{p}.p_bs_max_dbm", self.p_bs_max_dbm, -30.0, 80.0)
        _positive(f"{p}.energy_budget_uj", self.energy_budget_uj)
        _in_range(f"{p}.noise_dbm", self.noise_dbm, -200.0, 50.0)
        _in_range(f"{p}.noise_eve_dbm", self.noise_eve_dbm, -200.0, 50.0)
        _prob_open(f"{p}.eps_out", self.eps_out)
        _nonneg(f"{p}.csi_error_bound", self.csi_error_bound)
        _nonneg(f"{p}.eve_error_std", self.eve_error_std)
        _nonneg(f"{p}.r_min", self.r_min)
        _in_range(f"{p}.sinr_min_db", self.sinr_min_db, -60.0, 60.0)
        _positive(f"{p}.t_slot_ms", self.t_slot_ms)
        _nonneg(f"{p}.t_switch_ms", self.t_switch_ms)
        _in_range(f"{p}.tau_min", self.tau_min, 0.0, 1.0)
        _in_range(f"{p}.tau_max", self.tau_max, 0.0, 1.0)
        if self.tau_min > self.tau_max:
            raise ConfigError(f"{p}.tau_max", self.tau_max, f"must be >= tau_min = {self.tau_min}")
        if 3 * self.tau_min + 2 * self.t_switch_ms / self.t_slot_ms > 1.0:
            raise ConfigError(f"{p}.tau_min", self.tau_min, "3*tau_min + 2*t_switch/t_slot must be <= 1 (23a infeasible otherwise)")
        _pos_int(f"{p}.phase_bits", self.phase_bits, 1, 16)
        _in_range(f"{p}.alpha", self.alpha, 0.0, 1.0)
        _nonneg(f"{p}.delta_phi", self.delta_phi)
        _pos_int(f"{p}.n_ce_configs", self.n_ce_configs, 1, 100_000)
        _positive(f"{p}.pilot_bandwidth_mhz", self.pilot_bandwidth_mhz)
        _pos_int(f"{p}.sensing_snapshots", self.sensing_snapshots, 1, 100_000)
        _nonneg(f"{p}.sensing_bandwidth_mhz", self.sensing_bandwidth_mhz)
        _pos_int(f"{p}.sensing_subcarriers", self.sensing_subcarriers, 1, 1024)
        if self.sensing_snapshots < self.n_bs_antennas:
            raise ConfigError(f"{p}.sensing_snapshots", self.sensing_snapshots,
                              f"must be >= n_bs_antennas = {self.n_bs_antennas} (orthogonal probing)")
        _pos_int(f"{p}.max_iterations", self.max_iterations, 1, 1000)

    @property
    def n_users(self) -> int:
        return len(self.user_positions)

    @property
    def n_eves(self) -> int:
        return len(self.eve_positions)

    @property
    def n_targets(self) -> int:
        return len(self.target_positions)

    @property
    def wavelength(self) -> float:
        return 299_792_458.0 / (self.carrier_ghz * 1e9)

    @property
    def p_bs_max(self) -> float:
        return _dbm_to_w(self.p_bs_max_dbm)

    @property
    def phase_time(self) -> float:
        """Fraction of a slot left to the three phases after the two SIM switching intervals:
        ``tau_ce + tau_sense + tau_comm <= 1 - 2 t_sw / T_slot`` (004 (23a), (23i))."""
        return 1.0 - 2.0 * self.t_switch / self.t_slot

    @property
    def energy_budget(self) -> float:
        """Per-slot energy budget E_max in J (004 eq. (1), (23b))."""
        return self.energy_budget_uj * 1e-6

    @property
    def noise(self) -> float:
        return _dbm_to_w(self.noise_dbm)

    @property
    def noise_eve(self) -> float:
        return _dbm_to_w(self.noise_eve_dbm)

    @property
    def t_slot(self) -> float:
        return self.t_slot_ms * 1e-3

    @property
    def t_switch(self) -> float:
        return self.t_switch_ms * 1e-3

    @property
    def pilot_bandwidth(self) -> float:
        """Pilot bandwidth (sample rate) of block E's channel-estimation model in Hz."""
        return self.pilot_bandwidth_mhz * 1e6

    @property
    def subcarrier_offsets(self):
        """Sensing subcarrier offsets in Hz, symmetric about the carrier (None: narrowband)."""
        import numpy as np

        if self.sensing_subcarriers == 1 or self.sensing_bandwidth_mhz == 0.0:
            return None
        b = self.sensing_bandwidth_mhz * 1e6
        return np.linspace(-b / 2, b / 2, self.sensing_subcarriers)


SCENARIOS: dict[str, type] = {"tris_rsma": TrisScenario, "sim_isac": SimScenario}


def _freeze(v):
    """Lists from YAML -> tuples (hashable, immutable)."""
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def scenario_from_dict(d: Mapping[str, Any], prefix: str = "scenario"):
    """Build and validate a scenario from a plain dict (e.g. a resolved Hydra config).

    Unknown keys are rejected by name; missing keys take the documented defaults.
    """
    d = dict(d)
    kind = d.get("kind")
    if kind not in SCENARIOS:
        raise ConfigError(f"{prefix}.kind", kind, f"must be one of {sorted(SCENARIOS)}")
    cls = SCENARIOS[kind]
    names = {f.name for f in fields(cls)}
    for k in d:
        if k not in names:
            raise ConfigError(f"{prefix}.{k}", d[k], f"unknown key for scenario kind '{kind}'; allowed: {sorted(names)}")
    defaults = cls()
    kwargs = {k: _like(getattr(defaults, k), dict(v) if k == "power_model" else _freeze(v))
              for k, v in d.items()}
    # Floats for int fields are not coerced: they fail validation by name (_pos_int).
    return cls(**kwargs)


def _like(default, v):
    """Integers given for float fields become floats (recursively in tuples and mappings), so
    ``p_t_dbm=0`` and ``p_t_dbm=0.0`` are the same scenario -- and the same job seed."""
    if isinstance(default, float) and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(default, tuple) and isinstance(v, tuple) and default:
        return tuple(_like(default[min(i, len(default) - 1)], x) for i, x in enumerate(v))
    if isinstance(default, Mapping) and isinstance(v, Mapping):
        return {k: _like(default.get(k), x) for k, x in v.items()}
    return v


def scenario_to_dict(s) -> dict:
    out = dataclasses.asdict(s)
    return {k: (list(map(list, v)) if isinstance(v, tuple) and v and isinstance(v[0], tuple) else
                (list(v) if isinstance(v, tuple) else v)) for k, v in out.items()}
