"""Shared pieces of the paper-000 AN baselines (Sec. V: ZF, SDP, SDMA, NOMA; all with AN).

* :class:`TrisAnDesign` -- what every AN baseline returns: private beams ``W_private (L, N, K)``,
  AN covariances ``R_AN (L, N, N)``, slot durations ``t (L,)``, the SIC order ``order (K,)``
  (``order[0]`` decoded first; ``arange(K)`` for SDMA) and the access scheme (static field).
* :func:`evaluate_an` / :func:`certify_an` -- metrics (same keys as ``evaluate_tris`` where they
  apply) and Monte-Carlo outage certificate. Eavesdropper model as
  :mod:`jisac.metrics.multiple_access` (IU cancels the other private streams, AN is noise).
* :func:`slot_durations` -- the slot-duration LP ``max sum_l t_l S_l`` s.t. (34e)-(34f), exact.
* :func:`solve_with_retry` -- run a block with Clarabel, then SCS, recording every attempt.
* :func:`rank_one_with_an` -- rank-1 recovery that keeps the total covariance (moves the
  remainder ``W_k - w_k w_k^H >= 0`` into the AN; ``jisac.algorithms.rank_one.recover_rank_one``
  has no AN to absorb it, so only its ``principal_beams`` is reused).
* :func:`run_an_baseline` -- the SCA driver shared by the four baselines.
"""

from __future__ import annotations

import math
import time
import types

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ...certify.monte_carlo import mc_probability
from ...convex.bernstein import bernstein_e_minus, bernstein_e_plus, bernstein_sigma
from ...evaluation.tris import sensing_metrics, total_power
from ...hardware.tma import scale_to_element_power
from ...metrics import detection
from ...metrics import multiple_access as ma
from ...progress import report, scope
from ..rank_one import principal_beams
from .block import AnBlock, an_block

__all__ = ["TrisAnDesign", "evaluate_an", "certify_an", "an_rates", "slot_durations",
           "solve_with_retry", "rank_one_with_an", "run_an_baseline", "detection_power_floor",
           "normalised_problem", "sdr_objective", "an_outage_events", "SOLVERS",
           "DETECTION_UNREACHABLE"]

SOLVERS = ("Clarabel", "SCS")


class TrisAnDesign(eqx.Module):
    """AN-baseline design of paper 000 (L slots). Powers in W, durations in s."""

    W_private: Complex[Array, "L N K"]
    R_AN: Complex[Array, "L N N"]
    t: Float[Array, " L"]
    order: Int[Array, " K"]
    access: str = eqx.field(static=True, default="sdma")


# --------------------------------------------------------------------------------------------
# Rates, evaluation, certificate
# --------------------------------------------------------------------------------------------


def an_rates(access: str, W: Complex[Array, "N K"], R_an: Complex[Array, "N N"],
             H: Complex[Array, "K N"], G: Complex[Array, "M N"], noise_lu, noise_iu,
             order: Int[Array, " K"]):
    """(LU rates (K,), eavesdropping rates (K, M)) of one slot for SDMA+AN or NOMA+AN."""
    if access == "noma":
        r_k = ma.noma_rates(W, R_an, H, noise_lu, order)
    else:
        r_k = ma.sdma_rates(W, R_an, H, noise_lu)
    return r_k, ma.an_eavesdropper_rates(W, R_an, G, noise_iu)


def _psd_sqrt(R):
    lam, U = jnp.linalg.eigh(0.5 * (R + jnp.conj(R.T)))
    return U * jnp.sqrt(jnp.maximum(lam, 0.0))[None, :]


def _as_tris_like(design: TrisAnDesign):
    # total_power(design, s) reads ||W_l||_F^2 and t: [W_private, R_AN^{1/2}] has
    # ||.||_F^2 = ||W_private||_F^2 + tr R_AN, the radiated power of the AN design.
    F = jax.vmap(_psd_sqrt)(design.R_AN)
    return types.SimpleNamespace(W=jnp.concatenate([design.W_private, F], axis=2), t=design.t)


def evaluate_an(system, design: TrisAnDesign, s) -> dict:
    """Sec. V metrics of one drop of an AN design at the estimated channels (pure JAX).

    Keys as :func:`jisac.evaluation.tris.evaluate_tris` where they apply (no common rate /
    split); power model reused from ``evaluate_tris.total_power`` (radiated power includes AN).
    """
    Wp, Ran, t = design.W_private, design.R_AN, design.t
    G = system.g_scale[:, None] * system.G_hat

    def slot(w, r):
        r_k, r_km = an_rates(design.access, w, r, system.H_hat, G, s.noise_lu, s.noise_iu,
                             design.order)
        return r_k, r_km, jnp.sum(jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0))

    r_k, r_km, sec = jax.vmap(slot)(Wp, Ran)
    sse = jnp.sum(t * sec) / s.t_total
    eaves = jnp.sum(t * jnp.sum(jnp.max(r_km, axis=2), axis=1)) / s.t_total
    Rx = jnp.einsum("lnk,lmk->lnm", Wp, jnp.conj(Wp)) + Ran                # (L, N, N)
    p_slot = jnp.real(jnp.trace(Rx, axis1=1, axis2=2))
    p_tot = total_power(_as_tris_like(design), s)
    sensing = sensing_metrics(system, Rx, t, s)
    elem = jnp.real(jnp.diagonal(Rx, axis1=1, axis2=2))                     # (L, N)
    an_min_eig = jnp.min(jax.vmap(lambda r: jnp.linalg.eigvalsh(0.5 * (r + jnp.conj(r.T)))[0])(Ran))
    return {
        "secrecy_sum_rate": sse,
        "sse": sse,
        "see": sse / p_tot,
        "iee": eaves / p_tot,
        "eavesdropped_sum_rate": eaves,
        "total_power_w": p_tot,
        "slot_secrecy_rate": sec,
        "slot_power_w": p_slot,
        "slot_an_power_w": jnp.real(jnp.trace(Ran, axis1=1, axis2=2)),
        "slot_time_s": t,
        "user_rate": r_k,
        "eavesdropper_rate": r_km,
        **sensing,
        "element_power_excess_w": jnp.max(elem) - s.p_t,
        "time_excess_s": jnp.sum(t) - s.t_total,
        "an_min_eigenvalue_w": an_min_eig,
    }


def _cn(key, shape, dtype):
    re, im = jax.random.normal(key, (2,) + shape, dtype)
    return (re + 1j * im) / math.sqrt(2.0)


def an_outage_events(key, design: TrisAnDesign, system, s, dtype=jnp.float64):
    """One Monte-Carlo draw of the outage events of every slot (pure JAX).

    True channels: ``h_k = h_hat_k + dh_k``, ``dh_k ~ CN(0, lu_sigma2_k I)``; ``g_m = g_scale_m
    (g_hat_m + dg_m)``, ``dg_m ~ CN(0, iu_sigma2_m I)`` (jisac/systems/tris.py), drawn
    independently per slot. Returns a flat Bool vector ``[lu (L*K), iu (L*K*M)]``:
    LU outage ``R_k < r_s``, IU outage ``R_{k,m} > r_e``. Computed in SNR units (noise 1).
    """
    L, N, K = design.W_private.shape
    M = system.G_hat.shape[0]
    cdt = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
    k1, k2 = jax.random.split(key)
    dh = _cn(k1, (L, K, N), dtype) * jnp.sqrt(system.lu_sigma2).astype(dtype)[None, :, None]
    dg = _cn(k2, (L, M, N), dtype) * jnp.sqrt(system.iu_sigma2).astype(dtype)[None, :, None]
    H = (system.H_hat[None] + dh) / math.sqrt(s.noise_lu)
    G = system.g_scale[None, :, None] * (system.G_hat[None] + dg) / math.sqrt(s.noise_iu)

    def slot(w, r, h, g):
        r_k, r_km = an_rates(design.access, w.astype(cdt), r.astype(cdt), h.astype(cdt),
                             g.astype(cdt), 1.0, 1.0, design.order)
        return r_k < s.r_s, r_km > s.r_e

    lu, iu = jax.vmap(slot)(design.W_private, design.R_AN, H, G)
    return jnp.concatenate([lu.reshape(-1), iu.reshape(-1)])


def certify_an(system, design: TrisAnDesign, s, key, *, n_draws: int, chunk: int,
               dtype=jnp.float64) -> dict:
    """Monte-Carlo certificate of one drop (same keys as ``certify_tris``, no common outage).

    ``lu_outage[l][k]`` = Pr{R_k < r_s}, ``iu_outage[l][k][m]`` = Pr{R_{k,m} > r_e}; 95 % Wilson
    intervals; certified when the upper limit is <= the target.
    """
    L, N, K = design.W_private.shape
    M = system.G_hat.shape[0]
    est = mc_probability(lambda k: an_outage_events(k, design, system, s, dtype), key, n_draws,
                         chunk, dtype=dtype)
    split = lambda x: (np.asarray(x)[: L * K].reshape(L, K), np.asarray(x)[L * K:].reshape(L, K, M))
    (lu, iu), (lu_lo, iu_lo), (lu_hi, iu_hi) = split(est.p_hat), split(est.lo), split(est.hi)
    return {
        "n_draws": n_draws,
        "confidence": 0.95,
        "lu_outage": lu.tolist(),
        "lu_outage_ci": [lu_lo.tolist(), lu_hi.tolist()],
        "lu_outage_target": s.p_out_lu,
        "lu_certified": bool(np.all(lu_hi <= s.p_out_lu)),
        "iu_outage": iu.tolist(),
        "iu_outage_ci": [iu_lo.tolist(), iu_hi.tolist()],
        "iu_outage_target": s.p_out_iu,
        "iu_certified": bool(np.all(iu_hi <= s.p_out_iu)),
    }


# --------------------------------------------------------------------------------------------
# Slot durations, solver retry
# --------------------------------------------------------------------------------------------


def slot_durations(S, t_min: float, t_max: float, T: float) -> np.ndarray:
    """Exact solution of the LP  max sum_l t_l S_l  s.t.  sum_l t_l <= T, t_min <= t_l <= t_max.

    Fractional knapsack: start from t_min everywhere and give the remaining budget to the
    slots in decreasing S_l (ties: lower index first), each up to t_max; slots with S_l <= 0
    get no extra time (ties at 0 keep t_min). Requires L t_min <= T (validated by the scenario).
    """
    S = np.asarray(S, float)
    t = np.full(S.shape, float(t_min))
    budget = float(T) - t.sum()
    for l in np.argsort(-S, kind="stable"):
        if budget <= 0 or S[l] <= 0:
            break
        add = min(float(t_max) - float(t_min), budget)
        t[l] += add
        budget -= add
    return t


def _residual(blk: AnBlock, Wpos, Z, p_min, R, sqd):
    """Largest relative violation of the convex constraints that do not involve slacks."""
    X = Wpos.sum(0) + Z
    tr = max(float(np.real(np.trace(X))), 1.0)
    v = [max(0.0, -min(np.linalg.eigvalsh(w).min() for w in (*Wpos, Z)) / tr),
         max(0.0, float(np.max(np.real(np.diag(X)))) - 1.0),
         max(0.0, p_min - float(np.real(np.trace(X)))) / max(p_min, 1.0),
         max(0.0, float(np.linalg.norm(X - R)) - sqd) / max(sqd, 1.0)]
    return max(v)


def solve_with_retry(blk: AnBlock, values: dict, check, solvers=SOLVERS, tol: float = 1e-5):
    """Solve ``blk`` with each solver in turn until ``check(Wpos, Z) <= tol``.

    Returns ``(Wpos, Z, status, attempts)``; ``status`` is "optimal" (check passed at tol),
    "optimal_inaccurate" (passed at 100 tol, best attempt) or "solver_error" (none usable);
    ``attempts`` lists ``(solver, status, seconds)``. Solver exceptions are data, not crashes.
    """
    attempts, best = [], None
    for name in solvers:
        t0 = time.perf_counter()
        try:
            args = {"solve_method": name}
            if name == "SCS":
                args |= {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 100000}
            Wpos, Z = blk.solve(values, args)
            ok = np.all(np.isfinite(Wpos)) and np.all(np.isfinite(Z))
            res = check(Wpos, Z) if ok else np.inf
            st = "optimal" if res <= tol else ("optimal_inaccurate" if res <= 100 * tol
                                               else f"inaccurate(residual={res:.1e})")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - recorded (solver panics too), next solver
            st, res = f"error: {type(exc).__name__}: {str(exc)[:120]}", np.inf
        attempts.append((name, st, time.perf_counter() - t0))
        if st in ("optimal", "optimal_inaccurate") and (best is None or res < best[2]):
            best = (Wpos, Z, res, st)
        if st == "optimal":
            break
    if best is None:
        return None, None, "solver_error", attempts
    return best[0], best[1], best[3], attempts


# --------------------------------------------------------------------------------------------
# Problem data, objective, rank-1 recovery
# --------------------------------------------------------------------------------------------


def detection_power_floor(system, s) -> float:
    """Total-power floor of (62): p >= max_m I_m / varsigma_m (W), I_m of (61)."""
    I = float(detection.detection_snr_threshold(s.p_d, s.p_fa))
    return float(np.max(I / np.asarray(system.zeta_worst)))


def normalised_problem(system, s) -> dict:
    """Normalised data of one drop (module docstring of ``block``): channels, noise, radii."""
    pt = s.p_t
    H = np.asarray(system.H_hat) * math.sqrt(pt / s.noise_lu)
    gs = np.asarray(system.g_scale)
    G_hat = np.asarray(system.G_hat)
    Go = gs[:, None] * G_hat * math.sqrt(pt / s.noise_iu)
    d_hat = np.asarray(system.iu_polar)[:, 0]
    delta = min(s.iu_distance_error_m / d_hat.min(), 0.999)
    neff = s.noise_iu / (gs**2 * pt) * (1.0 - s.iu_distance_error_m / d_hat) ** 2
    return {
        "H": H, "Go": Go, "g_hat": G_hat, "neff": neff,
        "sigma_e": np.sqrt(np.asarray(system.lu_sigma2) * pt / s.noise_lu),
        "iu_sigma": np.sqrt(np.asarray(system.iu_sigma2)),
        "R": np.asarray(system.R_scan) / pt,
        "sqd": math.sqrt(s.beampattern_error) * np.linalg.norm(np.asarray(system.R_scan) / pt,
                                                               axis=(1, 2)),
        "delta": delta,
    }


def sdr_objective(access, Wmats, Z, H, Go, order) -> float:
    """sum_k (R_k - max_m R_{k,m}) of a (normalised) SDR point, no [.]^+ (the SCA merit)."""
    Wm, Zj = jnp.asarray(Wmats), jnp.asarray(Z)
    if access == "noma":
        r = ma.noma_rates_sdr(Wm, Zj, jnp.asarray(H), 1.0, jnp.asarray(order))
    else:
        r = ma.sdma_rates_sdr(Wm, Zj, jnp.asarray(H), 1.0)
    re = ma.an_eavesdropper_rates_sdr(Wm, Zj, jnp.asarray(Go), 1.0)
    return float(jnp.sum(r - jnp.max(re, axis=1)))


def _outage_surrogate_ok(access, w, Z, H, g_hat, neff, sigma_e, iu_sigma, order, s, tol=1e-7):
    """Bernstein surrogates (51)-(53)/(58)-(60) evaluated at a rank-1 candidate (normalised)."""
    K = w.shape[1]
    a, b = 1.0 / (2.0**s.r_s - 1.0), 1.0 / (2.0**s.r_e - 1.0)
    Wm = [np.outer(w[:, k], np.conj(w[:, k])) for k in range(K)]
    pos = list(np.asarray(order)) if access == "noma" else list(range(K))
    viol = 0.0
    for i in range(K):
        ki = pos[i]
        decs = range(i, K) if access == "noma" else [i]
        if access == "noma":
            after = sum((Wm[pos[l]] for l in range(i + 1, K)), Z)
        else:
            after = sum((Wm[l] for l in range(K) if l != ki), Z)
        s1 = bernstein_sigma(s.p_out_lu / len(list(decs)))
        for j in decs:
            kj = pos[j]
            Wbar = a * Wm[ki] - after
            se = sigma_e[kj]
            h = H[kj]
            Em = float(bernstein_e_minus(jnp.asarray(se**2 * Wbar), jnp.asarray(se * Wbar @ h), s1))
            c = float(np.real(np.conj(h) @ Wbar @ h)) - 1.0
            viol = max(viol, -(Em + c))
    s2 = bernstein_sigma(s.p_out_iu)
    for m in range(g_hat.shape[0]):
        E = iu_sigma[m]
        for k in range(K):
            Wbar = b * Wm[k] - Z
            Ep = float(bernstein_e_plus(jnp.asarray(E**2 * Wbar), jnp.asarray(E * Wbar @ g_hat[m]), s2))
            c = float(np.real(np.conj(g_hat[m]) @ Wbar @ g_hat[m])) - neff[m]
            viol = max(viol, (Ep + c) / max(neff[m], 1.0))
    return viol <= tol, viol


def rank_one_with_an(Wmats, Z, key, n_rand: int, score, feasible=None):
    """Rank-1 private beams from SDR covariances, moving the remainder into the AN.

    Candidates: the principal eigenvector ``w_k = sqrt(lam_1) u_1`` and ``n_rand`` Gaussian
    randomisations ``w_k = U Lam^{1/2} xi / ||xi||`` (xi ~ CN(0, I) on the range of W_k). Each
    satisfies ``W_k - w_k w_k^H >= 0``; that remainder is added to the AN covariance, so the
    total covariance ``sum_k W_k + Z`` -- hence per-element power (34d), detection power (62)
    and beampattern (34k) -- is unchanged exactly, and the AN stays PSD. The candidate with the
    largest ``score(w, Z')`` among those with ``feasible(w, Z')`` (all if none is) is returned.

    Returns ``(w (N, K), Z' (N, N), info)``.
    """
    K, N, _ = Wmats.shape
    lam, U = np.linalg.eigh(0.5 * (Wmats + np.conj(np.swapaxes(Wmats, 1, 2))))
    lam = np.maximum(lam, 0.0)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(
        key.dtype, jax.dtypes.prng_key) else key).astype(np.uint64))
    cands = [principal_beams(Wmats)]          # jisac/algorithms/rank_one.py (shared helper)
    for _ in range(n_rand):
        cols = []
        for k in range(K):
            xi = (rng.standard_normal(N) + 1j * rng.standard_normal(N)) / math.sqrt(2.0)
            xi = np.where(lam[k] > 1e-12 * max(lam[k, -1], 1e-300), xi, 0.0)
            nx = np.linalg.norm(xi)
            cols.append(U[k] @ (np.sqrt(lam[k]) * xi) / nx if nx > 0 else np.zeros(N, complex))
        cands.append(np.stack(cols, axis=1))
    best, best_key, n_feas = None, None, 0
    for idx, w in enumerate(cands):
        Zc = Z + np.sum(Wmats - np.einsum("nk,mk->knm", w, np.conj(w)), axis=0)
        Zc = 0.5 * (Zc + np.conj(Zc.T))
        ok = True if feasible is None else bool(feasible(w, Zc))
        n_feas += ok
        key_ = (ok, score(w, Zc))
        if best is None or key_ > best_key:
            best, best_key = (w, Zc, idx), key_
    w, Zc, idx = best
    return w, Zc, {"candidate": idx, "n_candidates": len(cands), "n_feasible": n_feas,
                   "feasible": bool(best_key[0])}


def _repair(w, Z, p_element=1.0):
    """Per-element power repair (scale_to_element_power) of [w, Z^{1/2}] (solver round-off)."""
    lam, U = np.linalg.eigh(0.5 * (Z + np.conj(Z.T)))
    F = U * np.sqrt(np.maximum(lam, 0.0))[None, :]
    Wc = np.asarray(scale_to_element_power(jnp.asarray(np.concatenate([w, F], axis=1)), p_element))
    K = w.shape[1]
    return Wc[:, :K], Wc[:, K:] @ np.conj(Wc[:, K:].T)


# --------------------------------------------------------------------------------------------
# The SCA driver
# --------------------------------------------------------------------------------------------


def _slot_fallback(R, K):
    """Safe design when a slot's block is infeasible/unsolved: no private beams, AN = R."""
    N = R.shape[0]
    return np.zeros((N, K), complex), np.asarray(R, complex)


DETECTION_UNREACHABLE = ("infeasible", "cap")   # TrisAnParams.detection_unreachable


def run_an_baseline(system, s, key, *, access: str, mode: str, zf: bool, max_iter: int,
                    tol: float, n_rand: int = 30, detection_cap: float = 1.0,
                    detection_unreachable: str = "infeasible") -> tuple:
    """SCA design of one drop for an AN baseline (see ``block`` for the slot problem).

    Per slot: SCA from the linearisation point X0 = 0 (the first block is feasible iff the
    convex constraint set is, since the rate slacks are free), stop when the merit's relative
    increase is < ``tol`` or after ``max_iter`` blocks; rank-1 recovery; then the slot-duration
    LP on the per-slot secrecy sum-rates of the recovered beams.

    Detection (62) asks for total power ``p >= p_floor`` in every slot. When ``p_floor > N P_t``
    (no design can meet it), ``detection_unreachable="infeasible"`` (default) returns status
    ``infeasible`` at once, with ``info["infeasible_reason"]`` and the safe slot design
    (``W = 0, R_AN = R[l]``), as the proposed scheme does (``tris_rsma.solve_drop``); ``"cap"``
    designs with the floor lowered to ``detection_cap * N P_t`` instead. Either way
    ``info["detection_capped"]`` and ``info["detection_floor_w"]`` record it.

    Returns ``(TrisAnDesign, info)`` with ``status``, ``solver_status`` (per slot and block),
    ``iterations``, ``objective_history`` (time-weighted SDR merit of the iterates, final t),
    ``objective`` (time-weighted secrecy sum-rate (35) of the returned design, bps/Hz).
    """
    d = normalised_problem(system, s)
    H, Go, g_hat, neff = d["H"], d["Go"], d["g_hat"], d["neff"]
    K, N = H.shape
    M = Go.shape[0]
    L = s.n_slots
    order = np.asarray(ma.noma_decoding_order(jnp.asarray(H))) if access == "noma" else np.arange(K)
    Hp = H[order]
    if detection_unreachable not in DETECTION_UNREACHABLE:
        raise ValueError(f"detection_unreachable={detection_unreachable!r}: must be one of "
                         f"{list(DETECTION_UNREACHABLE)}")
    p_floor = detection_power_floor(system, s) / s.p_t
    if detection_unreachable == "infeasible" and p_floor > N * (1.0 + 1e-9):
        return _unreachable_detection(d, s, order, access, p_floor, N)
    blk = an_block(N, K, M, access=access, mode=mode, zf=zf,
                   sigma_e=tuple(d["sigma_e"][order]), iu_sigma=tuple(d["iu_sigma"]),
                   p_out_lu=s.p_out_lu, p_out_iu=s.p_out_iu, r_s=s.r_s, r_e=s.r_e)
    capped = p_floor > detection_cap * N
    p_min = min(p_floor, detection_cap * N)
    V = None
    if zf:
        V = np.asarray(ma.zf_beamformer(jnp.asarray(H))).T[order]             # (K, N) by position
    blk_fixed = None
    slot_W, slot_Z, hist, statuses, iters, rank_info = [], [], [], [], [], []
    keys = jax.random.split(key, L)
    worst = "optimal"
    for l in range(L):
        R, sqd = d["R"][l], float(d["sqd"][l])
        with scope(f"slot {l + 1}/{L}"):
            Wpos, Z, merit, st_l, it = _sca(blk, order, H, Go, g_hat, neff, p_min, R, sqd, V,
                                            max_iter, tol, access)
        statuses.append(st_l)
        iters.append(it)
        if Wpos is None:
            w, Zr = _slot_fallback(R, K)
            worst = "infeasible" if all(x == "solver_error" for x in st_l) else "solver_error"
            slot_W.append(w)
            slot_Z.append(Zr)
            hist.append([])
            rank_info.append({})
            continue
        if any(x == "optimal_inaccurate" for x in st_l) and worst == "optimal":
            worst = "optimal_inaccurate"
        Wu = np.empty_like(Wpos)
        Wu[order] = Wpos
        score = lambda w, Zc: _secrecy_np(access, w, Zc, H, Go, order)
        feas = None
        if mode == "robust":
            feas = lambda w, Zc: _outage_surrogate_ok(access, w, Zc, H, g_hat, neff, d["sigma_e"],
                                                      d["iu_sigma"], order, s)[0]
        if zf:
            w = np.stack([np.sqrt(max(np.real(np.trace(Wu[k])), 0.0)) * V[list(order).index(k)]
                          for k in range(K)], axis=1)
            Zr = Z + np.sum(Wu - np.einsum("nk,mk->knm", w, np.conj(w)), axis=0)
            ri = {"method": "zf", "feasible": True if feas is None else bool(feas(w, Zr))}
        else:
            w, Zr, ri = rank_one_with_an(Wu, Z, keys[l], n_rand, score, feas)
            lam = np.linalg.eigvalsh(Wu)
            ri["rank_ratio"] = float(np.max(lam[:, -2] / np.maximum(lam[:, -1], 1e-300)))
            ri["method"] = "eig_randomisation"
            if ri["rank_ratio"] > 1e-6 or not ri["feasible"]:
                # SDR not rank-1 (or candidate violates the outage surrogates): re-optimise the
                # powers and the AN with the candidate directions fixed (same block, zf=True).
                if blk_fixed is None:
                    blk_fixed = an_block(N, K, M, access=access, mode=mode, zf=True,
                                         sigma_e=tuple(d["sigma_e"][order]),
                                         iu_sigma=tuple(d["iu_sigma"]), p_out_lu=s.p_out_lu,
                                         p_out_iu=s.p_out_iu, r_s=s.r_s, r_e=s.r_e)
                nrm = np.linalg.norm(w, axis=0)
                Vd = (w / np.where(nrm > 0, nrm, 1.0)[None, :]).T[order]
                Wf, Zf, mf, stf, itf = _sca(blk_fixed, order, H, Go, g_hat, neff, p_min, R, sqd,
                                            Vd, max_iter, tol, access)
                ri["refine_status"] = stf
                if Wf is not None:
                    Wfu = np.empty_like(Wf)
                    Wfu[order] = Wf
                    w2 = np.stack([np.sqrt(max(np.real(np.trace(Wfu[k])), 0.0))
                                   * Vd[list(order).index(k)] for k in range(K)], axis=1)
                    Z2 = Zf + np.sum(Wfu - np.einsum("nk,mk->knm", w2, np.conj(w2)), axis=0)
                    ok2 = True if feas is None else bool(feas(w2, Z2))
                    if (ok2, score(w2, Z2)) >= (ri["feasible"], score(w, Zr)):
                        w, Zr = w2, Z2
                        ri |= {"method": "eig_randomisation+fixed_direction_sca",
                               "feasible": ok2, "refine_history": mf}
        w, Zr = _repair(w, Zr, 1.0)
        rank_info.append(ri)
        slot_W.append(w)
        slot_Z.append(Zr)
        hist.append(merit)
    S = np.array([_secrecy_np(access, slot_W[l], slot_Z[l], H, Go, order) for l in range(L)])
    t = slot_durations(S, s.t_min, s.t_max, s.t_total)
    n_it = max(len(h) for h in hist) if any(hist) else 0
    pad = [h + [h[-1]] * (n_it - len(h)) if h else [0.0] * n_it for h in hist]
    history = [float(np.dot(t, [p[r] for p in pad]) / s.t_total) for r in range(n_it)]
    sc = math.sqrt(s.p_t)
    design = TrisAnDesign(W_private=jnp.asarray(np.stack(slot_W) * sc),
                          R_AN=jnp.asarray(np.stack(slot_Z) * s.p_t), t=jnp.asarray(t),
                          order=jnp.asarray(order, jnp.int32), access=access)
    if worst == "optimal":
        worst = "converged" if all(i < max_iter for i in iters) else "max_iterations"
    info = {
        "status": worst,
        "solver_status": statuses,
        "iterations": int(max(iters)),
        "objective_history": history,
        "objective": float(np.dot(t, S) / s.t_total),
        "slot_secrecy_rate": S.tolist(),
        "rank_one": rank_info,
        "detection_capped": bool(capped),
        "detection_floor_w": float(p_floor * s.p_t),
        "decoding_order": order.tolist(),
    }
    return design, info


def _unreachable_detection(d, s, order, access: str, p_floor: float, N: int) -> tuple:
    """``(design, info)`` of a drop whose (62) floor exceeds N P_t: status ``infeasible``, no
    solve, every slot the safe design of :func:`_slot_fallback` (meets (34d), (34k), radiates
    N P_t), minimum slot durations."""
    K, L = d["H"].shape[0], s.n_slots
    report(f"detection floor p_min = {p_floor:.3g} P_t > N P_t: infeasible")
    W, Z = zip(*(_slot_fallback(d["R"][l], K) for l in range(L)))
    t = slot_durations(np.zeros(L), s.t_min, s.t_max, s.t_total)
    design = TrisAnDesign(W_private=jnp.asarray(np.stack(W) * math.sqrt(s.p_t)),
                          R_AN=jnp.asarray(np.stack(Z) * s.p_t), t=jnp.asarray(t),
                          order=jnp.asarray(order, jnp.int32), access=access)
    info = {
        "status": "infeasible",
        "infeasible_reason": (f"detection power floor (62): total power >= {p_floor:.4g} P_t "
                              f"needed, N P_t = {N} P_t available"),
        "solver_status": [],
        "iterations": 0,
        "objective_history": [],
        "objective": 0.0,
        "slot_secrecy_rate": [0.0] * L,
        "rank_one": [],
        "detection_capped": False,
        "detection_floor_w": float(p_floor * s.p_t),
        "decoding_order": np.asarray(order).tolist(),
    }
    return design, info


def _sca(blk, order, H, Go, g_hat, neff, p_min, R, sqd, V, max_iter, tol, access):
    """SCA of one slot from X0 = 0; returns (Wpos, Z, merit history, statuses, blocks)."""
    K, N = H.shape
    Hp = H[order]
    check = lambda Wp_, Z_: _residual(blk, Wp_, Z_, p_min, R, sqd)
    Wpos, Z = np.zeros((K, N, N), complex), np.zeros((N, N), complex)
    merit, st_l, it, have = [], [], 0, False
    for it in range(1, max_iter + 1):
        vals = _values(blk, Hp, Go, g_hat, neff, p_min, R, sqd, Wpos, Z, V)
        Wn, Zn, st, _ = solve_with_retry(blk, vals, check)
        st_l.append(st)
        if Wn is None:
            break
        Wu = np.empty_like(Wn)
        Wu[order] = Wn
        f = sdr_objective(access, Wu, Zn, H, Go, order)
        if have and f < merit[-1] - 1e-6 * max(1.0, abs(merit[-1])):
            st_l[-1] = "non_monotone_step_rejected"   # solver round-off: keep the last iterate
            break
        Wpos, Z, have = Wn, Zn, True
        merit.append(f)
        report(f"SCA block {it}: SDR merit {f:.6g} ({st})")
        if len(merit) > 1 and abs(merit[-1] - merit[-2]) <= tol * max(abs(merit[-2]), 1e-9):
            break
    if not have:
        return None, None, merit, st_l, it
    return Wpos, Z, merit, st_l, it


def _values(blk, Hp, Go, g_hat, neff, p_min, R, sqd, Wpos, Z, V):
    from .block import block_values
    return block_values(blk, Hp, Go, g_hat, neff, p_min, R, sqd, Wpos, Z, V)


def _secrecy_np(access, w, Z, H, Go, order) -> float:
    r_k, r_km = an_rates(access, jnp.asarray(w), jnp.asarray(Z), jnp.asarray(H), jnp.asarray(Go),
                         1.0, 1.0, jnp.asarray(order))
    return float(jnp.sum(jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0)))
