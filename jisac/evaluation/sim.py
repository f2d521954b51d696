"""Metrics and Monte-Carlo certificate of a paper-004 design.

Evaluation uses the Rician inter-layer model of 004 eq. (10) (``h_inter_eval``), as the paper
prescribes for simulation; ``*_design_model`` metrics repeat the secrecy rate on the LoS design
model (9) so the gap between the two is visible.

Sensing (``docs/derivations/sim_sensing.md``): orthogonal probing ``X`` (M x T_s) of power
``P_sense`` through ``G_SIM(theta_sense)``; the T_s snapshots span the sensing window
``tau_sense T_slot`` (the paper's ``t in [0, T_sense]`` of eq. (12)), so the Doppler CRB
tightens with sensing time. ``CRB_total`` = eq. (15) over ``[theta, r, v]`` with RCS and the
echo phase eliminated by the Schur complement (28).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..certify.monte_carlo import mc_probability
from ..designs.sim import SimDesign
from ..hardware.sim import sim_cascade
from ..metrics import sim_secrecy
from ..metrics.crb import orthogonal_probing, sim_crb_total
from ..scenarios import SimScenario
from ..systems.sim import SimSystem, sensing_model_kw


def _eff(H, G):
    """Rows ``h_eff = G^H h`` (004 eqs. (17)-(18)) for receivers ``H (J, N)``."""
    return H @ jnp.conj(G)


def evaluate_sim(system: SimSystem, design: SimDesign, s: SimScenario) -> dict:
    """Metrics of one drop (pure)."""
    W = design.W
    G_eval = sim_cascade(design.theta_comm, system.h1, system.h_inter_eval)
    G_dsgn = sim_cascade(design.theta_comm, system.h1, system.h_inter)

    def secrecy(G):
        hu, he = _eff(system.H_users, G), _eff(system.H_eves, G)
        return (sim_secrecy.secrecy_rates(hu, he, W, design.R_AN, s.noise, s.noise_eve),
                sim_secrecy.user_sinr(hu, W, design.R_AN, s.noise))

    sec, sinr = secrecy(G_eval)
    sec_d, _ = secrecy(G_dsgn)
    G_sense = sim_cascade(design.theta_sense, system.h1, system.h_inter_eval)
    n_s = s.sensing_snapshots
    X = orthogonal_probing(s.n_bs_antennas, n_s, design.p_sense, dtype=W.dtype)
    dt_sample = design.tau[1] * s.t_slot / n_s
    crb = sim_crb_total(system.targets, G_sense, X, system.positions, s.wavelength, dt_sample,
                        s.noise, **sensing_model_kw(s))
    p_comm = jnp.real(jnp.trace(W @ jnp.conj(W.T))) + jnp.real(jnp.trace(design.R_AN))
    energy = s.t_slot * (design.tau[1] * design.p_sense + design.tau[2] * p_comm)
    return {
        "sum_secrecy_rate": jnp.sum(sec),
        "secrecy_rate": sec,
        "sum_secrecy_rate_design_model": jnp.sum(sec_d),
        "user_sinr_db": 10.0 * jnp.log10(sinr),
        "crb_total": crb,
        "tau": design.tau,
        "p_sense_w": design.p_sense,
        "p_comm_w": p_comm,
        "energy_j": energy,
        "energy_excess_j": energy - s.energy_budget,
        "time_excess": jnp.sum(design.tau) + 2.0 * s.t_switch / s.t_slot - 1.0,
        "power_excess_w": jnp.maximum(p_comm, design.p_sense) - s.p_bs_max,
        "rf_unit_modulus_error": jnp.max(jnp.abs(jnp.abs(design.W_RF) - 1.0)),
    }


def certify_sim(system: SimSystem, design: SimDesign, s: SimScenario, key, *, n_draws: int,
                chunk: int) -> dict:
    """Empirical secrecy outage ``Pr{R_k^sec < R_min}`` (004 eq. (11)) per user, 95 % Wilson CIs.

    Uncertainty drawn per realisation: each eavesdropper's SIM->eve channel gets
    ``CN(0, (eve_error_std^2 ||h_e||^2 / N) I)`` (probabilistic eavesdropper errors, Sec. II-C),
    and each user's effective channel an error uniform in the ball
    ``||dh|| <= csi_error_bound ||h_eff,k||`` (eq. (7)). Certified when the upper limit is below
    ``eps_out``.
    """
    W, R = design.W, design.R_AN
    G = sim_cascade(design.theta_comm, system.h1, system.h_inter_eval)
    hu, He = _eff(system.H_users, G), system.H_eves
    K, E, N = hu.shape[0], He.shape[0], He.shape[1]
    M = hu.shape[1]
    eve_std = s.eve_error_std * jnp.linalg.norm(He, axis=1) / np.sqrt(N)      # (E,)
    eps = s.csi_error_bound * jnp.linalg.norm(hu, axis=1)                      # (K,)
    rdt = jnp.real(W).dtype

    def cn(k, shape):
        z = jax.random.normal(k, shape + (2,), rdt)
        return (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)

    def event(k):
        k1, k2, k3 = jax.random.split(k, 3)
        he = He + eve_std[:, None] * cn(k1, (E, N))
        d = cn(k2, (K, M))
        r = eps * jax.random.uniform(k3, (K,), rdt) ** (1.0 / (2 * M))
        hu_t = hu + (r / jnp.linalg.norm(d, axis=1))[:, None] * d
        sec = sim_secrecy.secrecy_rates(hu_t, _eff(he, G), W, R, s.noise, s.noise_eve)
        return sec < s.r_min

    est = mc_probability(event, key, n_draws, chunk)
    hi = np.asarray(est.hi)
    return {
        "n_draws": n_draws,
        "confidence": 0.95,
        "secrecy_outage": np.asarray(est.p_hat).tolist(),
        "secrecy_outage_ci": [np.asarray(est.lo).tolist(), hi.tolist()],
        "eps_out": s.eps_out,
        "certified": bool(np.all(hi <= s.eps_out)),
    }
