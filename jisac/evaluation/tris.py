"""Metrics and Monte-Carlo certificate of a paper-000 design (Sec. V metrics).

``evaluate_tris(system, design, scenario)`` is pure JAX (jitted by the caller, vmapped over
drops). Every metric is at the *estimated* channels (the design's nominal view); the
certificate (:func:`certify_tris`) then draws true channels from the Gaussian error models of
000 eqs. (6) and (44).

Power-consumption model behind SEE / IEE (the paper gives none; ``docs/derivations/scenarios.md``):
``P_total = (1/eta) * sum_l (t_l / T) p_l + P_static + N * P_element`` for the TRIS (one feed,
N TMA-switched elements) and with ``N * P_rf_chain`` in place of ``N * P_element`` for the
traditional transceiver (TRSMA); ``p_l = ||W_l||_F^2`` the radiated power of slot l.
SSE = objective (35) in bps/Hz, SEE = SSE / P_total (bps/Hz/W), IEE = time-weighted eavesdropped
sum-rate ``(1/T) sum_l t_l sum_k max_m R_{k,m}`` over P_total (bps/Hz/W).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..certify.tris import tris_outage_slots
from ..designs.tris import TrisDesign
from ..geometry import upa_steering
from ..hardware.tma import per_element_power
from ..metrics import detection, rsma
from ..metrics.crb import crb_from_fim, schur_lower_bound, tris_fim
from ..scenarios import TrisScenario
from ..systems.tris import TrisSystem


def total_power(design: TrisDesign, s: TrisScenario, transceiver: str = "tris"):
    """Consumed power (W) of the documented model (module docstring)."""
    pm = s.power_model
    p_slot = jnp.sum(jnp.abs(design.W) ** 2, axis=(1, 2))
    radiated = jnp.sum(design.t * p_slot) / s.t_total
    per_elem = pm["p_tris_element_w"] if transceiver == "tris" else pm["p_rf_chain_w"]
    return radiated / pm["pa_efficiency"] + pm["p_static_w"] + s.n_elements * per_elem


def sensing_metrics(system: TrisSystem, Rx, t, s: TrisScenario) -> dict:
    """Sensing metrics of a transmit covariance ``Rx (L, N, N)`` (sum of all streams, AN
    included) with slot durations ``t (L,)``: detection probability per slot and IU by
    (31)-(32) at the worst distance (62) and with the beam-aware echo SNR of (28), the
    beampattern-matching error (33) relative to ``||R[l]||_F^2``, and the RCRB of each IU
    (the FIMs of the L slots add: independent observations of ``t_l B`` snapshots each)."""
    p_slot = jnp.real(jnp.trace(Rx, axis1=1, axis2=2))
    pd = detection.detection_probability_from_pfa(p_slot[:, None], system.zeta_worst[None, :], s.p_fa)
    geo = (s.n_rows, s.n_cols, s.spacing_over_lambda)
    a_iu = jax.vmap(lambda p: upa_steering(p[2], p[1], *geo))(system.iu_polar)
    sa2 = detection.rcs_variance(s.rcs_m2, s.wavelength, system.iu_polar[:, 0] + s.iu_distance_error_m)
    echo = jax.vmap(lambda R: jax.vmap(lambda a, v: detection.echo_snr(R, a, v, s.radar_noise))(a_iu, sa2))(Rx)
    pd_beam = jnp.exp(jnp.log(s.p_fa) / (1.0 + echo))
    bp_err = jax.vmap(lambda R, Rd: jnp.sum(jnp.abs(R - Rd) ** 2) / jnp.sum(jnp.abs(Rd) ** 2))(Rx, system.R_scan)
    bw = s.bandwidth_mhz * 1e6

    def rcrb(p):
        alpha = jnp.sqrt(detection.rcs_variance(s.rcs_m2, s.wavelength, p[0]))
        J = jnp.sum(jax.vmap(lambda R, tl: tris_fim(R, p[0], p[1], p[2], alpha, *geo, s.wavelength,
                                                       s.radar_noise, tl * bw))(Rx, t), axis=0)
        return jnp.sqrt(jnp.diagonal(crb_from_fim(schur_lower_bound(J, (0, 1, 2)))))

    rcrb_iu = jax.vmap(rcrb)(system.iu_polar)
    return {
        "detection_probability": pd,
        "detection_probability_beam": pd_beam,
        "beampattern_rel_error": bp_err,
        "rcrb_distance_m": rcrb_iu[:, 0],
        "rcrb_azimuth_rad": rcrb_iu[:, 1],
        "rcrb_pitch_rad": rcrb_iu[:, 2],
    }


def evaluate_tris(system: TrisSystem, design: TrisDesign, s: TrisScenario,
                  transceiver: str = "tris") -> dict:
    """All Sec. V metrics of one drop (pure; arrays in, dict of arrays out)."""
    W, t, C = design.W, design.t, design.C
    G = system.g_scale[:, None] * system.G_hat                            # (M, N), eq. (44)

    def slot(w, c):
        r_k = rsma.user_rates(w, system.H_hat, s.noise_lu, c)
        r_km = rsma.eavesdropper_rates(w, G, s.noise_iu)                 # (K, M)
        r_c = rsma.common_rate(w, system.H_hat, s.noise_lu)
        sec = jnp.sum(jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0))
        return r_k, r_km, r_c, sec

    r_k, r_km, r_c, sec = jax.vmap(slot)(W, C)
    sse = jnp.sum(t * sec) / s.t_total                                   # eq. (35) at estimates
    eaves = jnp.sum(t * jnp.sum(jnp.max(r_km, axis=2), axis=1)) / s.t_total
    p_slot = jnp.sum(jnp.abs(W) ** 2, axis=(1, 2))
    p_tot = total_power(design, s, transceiver)

    Rx = jnp.einsum("lnk,lmk->lnm", W, jnp.conj(W))                       # (L, N, N) = sum_i W_i
    sensing = sensing_metrics(system, Rx, t, s)
    elem = per_element_power(W)                                          # (L, N)
    return {
        "secrecy_sum_rate": sse,
        "sse": sse,
        "see": sse / p_tot,
        "iee": eaves / p_tot,
        "eavesdropped_sum_rate": eaves,
        "total_power_w": p_tot,
        "slot_secrecy_rate": sec,
        "slot_power_w": p_slot,
        "slot_time_s": t,
        "common_rate": r_c,
        "common_split": C,
        "user_rate": r_k,
        "eavesdropper_rate": r_km,
        **sensing,
        "element_power_excess_w": jnp.max(elem) - s.p_t,
        "time_excess_s": jnp.sum(t) - s.t_total,
        "common_split_excess": jnp.max(jnp.sum(C, axis=1) - r_c),
    }


def certify_tris(system: TrisSystem, design: TrisDesign, s: TrisScenario, key, *,
                 n_draws: int, chunk: int, dtype=jnp.float64) -> dict:
    """Monte-Carlo certificate of one drop: empirical outage per slot with 95 % Wilson CIs.

    LU outage ``Pr{R_k < r_s}`` (eq. (26) violated) against ``p_out_lu`` and IU outage
    ``Pr{R_{k,m} > r_e}`` (eq. (27) violated) against ``p_out_iu``; a target counts as
    *certified* when the upper confidence limit is below it.
    """
    N = s.n_elements
    E_chol = jnp.sqrt(system.iu_sigma2)[:, None, None] * jnp.eye(N, dtype=system.G_hat.dtype)[None]
    out = tris_outage_slots(key, design.W, design.C, system.H_hat, system.lu_sigma2, system.G_hat,
                            system.g_scale, E_chol, s.noise_lu, s.noise_iu, s.r_s, s.r_e,
                            n_draws=n_draws, chunk=chunk, dtype=dtype)
    lu_hi, iu_hi = np.asarray(out.lu.hi), np.asarray(out.iu.hi)
    return {
        "n_draws": n_draws,
        "confidence": 0.95,
        "lu_outage": np.asarray(out.lu.p_hat).tolist(),
        "lu_outage_ci": [np.asarray(out.lu.lo).tolist(), lu_hi.tolist()],
        "lu_outage_target": s.p_out_lu,
        "lu_certified": bool(np.all(lu_hi <= s.p_out_lu)),
        "iu_outage": np.asarray(out.iu.p_hat).tolist(),
        "iu_outage_ci": [np.asarray(out.iu.lo).tolist(), iu_hi.tolist()],
        "iu_outage_target": s.p_out_iu,
        "iu_certified": bool(np.all(iu_hi <= s.p_out_iu)),
        "common_outage": np.asarray(out.common.p_hat).tolist(),
    }
