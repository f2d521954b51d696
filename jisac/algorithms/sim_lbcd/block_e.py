"""Block E of paper 004's L-BCD: channel-estimation SIM configuration (eq. (42)) with an explicit
CSI-error model (derivation: ``docs/derivations/sim_lbcd.md``, section "Block E").

Estimation model (our precise form of Sec. II-C / eq. (7)). The CE window ``tau_ce T_slot`` is split
into ``Q = s.n_ce_configs`` sub-windows; in sub-window q the SIM holds the training configuration
``theta^{ce,q} = theta_ce + P_q`` (``P_q``: DFT phases ``2 pi q n / Q`` on the output layer, zero on
the others, see :func:`training_phases`) and the BS sends ``n_q = tau_ce T_slot B / Q`` samples of
orthogonal pilots ``X_q`` (``X_q X_q^H = (P_max n_q / M) I_M``, needs ``n_q >= M``; ``B`` =
``s.pilot_bandwidth``, scenario key ``pilot_bandwidth_mhz``, default 10 MHz, for which the default
``noise_dbm = -104`` is the thermal ``kTB`` at 0 dB noise figure). User k
receives ``y_q = h_k^H G_q X_q + n``, ``n ~ CN(0, s.noise I)``, with ``G_q = G_SIM(theta^{ce,q})`` known
(BS->SIM and inter-layer design model), the SIM->user channel ``h_k (N,)`` unknown. Least squares
over all q:

    h_hat_k - h_k ~ CN(0, sigma_eff^2 F^{-1}),  F = sum_q G_q G_q^H (N x N),
    sigma_eff^2 = s.noise * M * Q / (P_max tau_ce T_slot B),

and the error of the effective channel used by block B, ``h_eff,k = G_c^H h_k`` (``G_c`` the
communication cascade), is ``CN(0, C)``, ``C = sigma_eff^2 G_c^H F^{-1} G_c`` (M x M). The bounded
error model (7) takes ``eps_k`` = a ``confidence``-quantile bound of ``||Delta h_eff,k||``: with
``||Delta||^2 = sum_i lambda_i(C) E_i``, ``E_i ~ Exp(1)`` iid, the Chernoff bound
``P(||Delta||^2 > x) <= min_s exp(-s x) prod_i (1 - s lambda_i)^{-1}`` gives a *conservative*
closed-form quantile (:func:`chernoff_quantile`).

Optimisation (42a): ``theta_ce`` (layers 1..L-1; the output-layer phases cancel in ``F``) minimises
the smooth surrogate ``tr(C)`` by Adam on the phases, accepted only if the Chernoff ``eps`` does not
increase. Every user sees the same ``F`` and noise, so ``eps_k`` is the same for all k here.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ...designs.sim import SimDesign
from ...hardware.sim import sim_cascade
from ...scenarios import SimScenario
from ...systems.sim import SimSystem

__all__ = ["ce_block", "ce_radius", "training_phases", "ce_error_covariance",
           "chernoff_quantile", "effective_noise"]


def training_phases(theta_ce, n_configs: int):
    """``(Q, L, N)`` training configurations ``theta_ce + P_q``, ``P_q[L-1, n] = 2 pi q n / Q``."""
    L, N = theta_ce.shape
    q = jnp.arange(n_configs, dtype=theta_ce.dtype)[:, None]
    n = jnp.arange(N, dtype=theta_ce.dtype)[None, :]
    pat = jnp.zeros((n_configs, L, N), theta_ce.dtype).at[:, L - 1, :].set(2 * jnp.pi * q * n / n_configs)
    return theta_ce[None] + pat


def effective_noise(s: SimScenario, tau_ce, n_bs: int, bandwidth_hz: float | None = None):
    """``sigma_eff^2 = noise M Q / (P_max tau_ce T_slot B)``: per-config LS noise variance
    (``B = bandwidth_hz``, default the scenario's ``s.pilot_bandwidth``)."""
    b = s.pilot_bandwidth if bandwidth_hz is None else bandwidth_hz
    return s.noise * n_bs * s.n_ce_configs / (s.p_bs_max * tau_ce * s.t_slot * b)


def ce_error_covariance(theta_ce, theta_comm, h1, h_inter, sigma_eff2, n_configs: int):
    """Covariance ``C = sigma_eff^2 G_c^H F^{-1} G_c`` (M x M) of ``Delta h_eff,k`` (module doc)."""
    Gq = jax.vmap(lambda th: sim_cascade(th, h1, h_inter))(training_phases(theta_ce, n_configs))
    F = jnp.einsum("qnm,qkm->nk", Gq, jnp.conj(Gq))
    F = 0.5 * (F + jnp.conj(F.T))
    Gc = sim_cascade(theta_comm, h1, h_inter)
    C = sigma_eff2 * (jnp.conj(Gc.T) @ jnp.linalg.solve(F, Gc))
    return 0.5 * (C + jnp.conj(C.T))


def chernoff_quantile(lam, eps_level, n_grid: int = 2048):
    """Conservative ``x`` with ``P(sum_i lam_i E_i > x) <= eps_level`` (``E_i ~ Exp(1)``):
    ``x = min_{0 < s < 1/lam_max} (-sum log(1 - s lam_i) + log(1/eps_level)) / s`` on a grid of s
    (any s is valid, so the grid only costs tightness)."""
    lam = jnp.maximum(jnp.asarray(lam), 0.0)
    lmax = jnp.maximum(jnp.max(lam), 1e-300)
    u = jnp.linspace(1.0 / n_grid, 1.0 - 1.0 / n_grid, n_grid - 1, dtype=lam.dtype)
    sv = u / lmax
    x = (-jnp.sum(jnp.log1p(-sv[:, None] * lam[None, :]), axis=1) - jnp.log(eps_level)) / sv
    return jnp.min(x)


@partial(jax.jit, static_argnames=("n_configs",))
def _eps(theta_ce, theta_comm, h1, h_inter, sigma_eff2, eps_level, n_configs: int):
    C = ce_error_covariance(theta_ce, theta_comm, h1, h_inter, sigma_eff2, n_configs)
    lam = jnp.linalg.eigvalsh(C)
    return jnp.sqrt(chernoff_quantile(lam, eps_level)), jnp.real(jnp.trace(C))


@partial(jax.jit, static_argnames=("n_configs", "n_steps"))
def _optimise(theta_ce, theta_comm, h1, h_inter, n_configs: int, n_steps: int, lr):
    L = theta_ce.shape[0]
    mask = (jnp.arange(L) < L - 1).astype(theta_ce.dtype)[:, None]   # output layer cancels in F

    def loss(th):
        C = ce_error_covariance(th, theta_comm, h1, h_inter, 1.0, n_configs)
        return jnp.log(jnp.real(jnp.trace(C)))

    opt = optax.adam(lr)

    def step(carry, _):
        th, st, best_th, best = carry
        val, g = jax.value_and_grad(loss)(th)
        better = val < best
        best_th = jnp.where(better, th, best_th)
        best = jnp.where(better, val, best)
        up, st = opt.update(g * mask, st, th)
        return (optax.apply_updates(th, up), st, best_th, best), val

    init = (theta_ce, opt.init(theta_ce), theta_ce, jnp.asarray(jnp.inf, theta_ce.dtype))
    (th, _, best_th, best), hist = jax.lax.scan(step, init, None, length=n_steps)
    last = loss(th)
    return jnp.where(last < best, th, best_th), hist


def ce_radius(system: SimSystem, design: SimDesign, s: SimScenario, *, confidence: float = 0.95,
              bandwidth_hz: float | None = None) -> np.ndarray:
    """``eps_csi (K,)``: the Chernoff ``confidence``-radius of ``Delta h_eff,k`` (module doc) at the
    design's own ``theta_ce``, ``tau_ce`` and ``theta_comm``, without optimising anything (the radius
    block B must design against after the discretisation has moved the phases)."""
    tau_ce = float(design.tau[0])
    b = s.pilot_bandwidth if bandwidth_hz is None else float(bandwidth_hz)
    sig2 = effective_noise(s, tau_ce, system.h1.shape[1], b)
    eps, _ = _eps(design.theta_ce, design.theta_comm, system.h1, system.h_inter, sig2,
                  1.0 - confidence, s.n_ce_configs)
    return np.full(system.H_users.shape[0], float(eps))


def ce_block(system: SimSystem, design: SimDesign, s: SimScenario, *, n_steps: int = 100,
             lr: float = 0.05, confidence: float = 0.95, bandwidth_hz: float | None = None,
             eps_max=None):
    """Block E (004 (42)); returns ``(design, info)`` with ``info["eps_csi"] (K,)`` (absolute radii
    on ``h_eff,k``, for block B) at the returned ``theta_ce`` and the current ``tau_ce``.

    ``bandwidth_hz``: pilot bandwidth ``B`` (default ``s.pilot_bandwidth``, i.e. the scenario's
    ``pilot_bandwidth_mhz``; an explicit value overrides it, e.g. in tests).
    ``eps_max (K,)``: the CSI-accuracy target of (42b), default ``s.csi_error_bound ||h_eff,k||``;
    ``info["tau_ce_required"]`` is the smallest ``tau_ce`` meeting it (``eps ~ tau_ce^{-1/2}``),
    clipped to ``[tau_min, tau_max]`` -- pass it to block D as ``tau_ce_min`` (``tau_ce_needed``:
    the same before clipping; above the frame's room it says (42b) is unattainable). info also holds
    ``eps_before``, ``trace_C``, ``pilot_samples_per_config`` (``n_q``; < M means the orthogonal
    pilot model needs more samples than the window holds, flagged in ``status``), ``meets_42b``.
    """
    t0 = time.perf_counter()
    info: dict = {}
    try:
        tau_ce = float(design.tau[0])
        bandwidth_hz = s.pilot_bandwidth if bandwidth_hz is None else float(bandwidth_hz)
        M = system.h1.shape[1]
        Q = s.n_ce_configs
        sig2 = effective_noise(s, tau_ce, M, bandwidth_hz)
        lvl = 1.0 - confidence
        args = (design.theta_comm, system.h1, system.h_inter)
        eps0, _ = _eps(design.theta_ce, *args, sig2, lvl, Q)
        th, hist = _optimise(design.theta_ce, *args, Q, n_steps, lr)
        eps1, trC = _eps(th, *args, sig2, lvl, Q)
        eps0, eps1 = float(eps0), float(eps1)
        if not np.isfinite(eps1) or eps1 > eps0:     # keep monotone (and the old one if F singular)
            th, eps1, trC = design.theta_ce, eps0, _eps(design.theta_ce, *args, sig2, lvl, Q)[1]
        K = system.H_users.shape[0]
        Gc = sim_cascade(design.theta_comm, system.h1, system.h_inter)
        h_norm = np.linalg.norm(np.asarray(system.H_users @ jnp.conj(Gc)), axis=1)
        target = (s.csi_error_bound * h_norm if eps_max is None
                  else np.broadcast_to(np.asarray(eps_max, np.float64), (K,)))
        eps_csi = np.full(K, eps1)
        need = tau_ce * float(np.max((eps_csi / target) ** 2)) if np.all(target > 0) else np.inf
        n_q = tau_ce * s.t_slot * bandwidth_hz / Q
        info.update(eps_csi=eps_csi, eps_before=eps0, trace_C=float(trC),
                    objective_history=np.asarray(hist), eps_target=target,
                    meets_42b=bool(np.all(eps_csi <= target)),
                    tau_ce_required=float(np.clip(need, s.tau_min, s.tau_max)),
                    tau_ce_needed=float(need),
                    pilot_samples_per_config=n_q)
        st = "optimal" if np.isfinite(eps1) else "singular_training: eps infinite"
        if n_q < M:
            st += f"; pilots_too_short (n_q={n_q:.3g} < M={M})"
        info["status"] = st
        new = SimDesign(design.theta_comm, design.theta_sense, jnp.asarray(th, design.theta_ce.dtype),
                        design.W_RF, design.W_BB, design.R_AN, design.tau, design.p_sense,
                        design.p_comm)
        return new, info
    except Exception as exc:                                          # never raise mid-BCD
        info["status"] = f"error: {type(exc).__name__}: {str(exc)[:300]}; previous design kept"
        return design, info
    finally:
        info["time_s"] = time.perf_counter() - t0
