"""Block D of paper 004's L-BCD: time and power allocation (eq. (41)), solved by an exact
reduction to two scalars (derivation: ``docs/derivations/sim_lbcd.md``, section "Block D").

Given the SIM phases, the precoder *directions* ``W / sqrt(p0)``, ``R_AN / p0`` (``p0`` the current
radiated communication power) and the sensing phases, choose
``tau = [tau_ce, tau_sense, tau_comm]``, ``p_sense``, ``p_comm`` to maximise

    U = (1 - alpha) tau_c S(p_c) / R_max - alpha CRB(tau_s, p_s) / CRB_min      (24) with S = tau_c sum R
    s.t. tau_ce + tau_s + tau_c + 2 t_sw / T_slot <= 1                          (23a)/(41b)
         T_slot (tau_s p_s + tau_c p_c) <= E_max                                (23b)/(41c)
         p_s, p_c <= P_max                                                      (23c),(23e)/(41d)
         tau_* in [tau_min, tau_max]                                            (23i)/(41e)
         SINR_k(p_c) >= gamma_min (robust: worst case over the CSI ball)        (23j)
         robust only: outage surrogate f_k(p_c) >= R_min + Delta_k              (23f) via (25)

Facts used (verified in ``tests/test_lbcd_block_d.py``):

* ``CRB(tau_s, p_s) = (a + b / tau_s^2) / p_s`` exactly, with ``a, b >= 0`` read off one
  Schur-complement CRB diagonal: the FIM is linear in ``p_s`` and only the Doppler derivative
  carries the sample times ``t_k = k tau_s T_slot / T_s`` (the Doppler phase itself cancels in
  every FIM entry), so ``J(tau) = D J(1) D`` with ``D = diag(1, 1, tau, 1, 1)``.
* For fixed ``(tau_c, p_c)`` the sensing sub-problem is solved in closed form:
  ``tau_s* = clip(max(E_s / P_max, sqrt(b / a)), tau_min, tau_s_hi)``, ``p_s = min(P_max, E_s/tau_s)``
  with ``E_s = E_max / T_slot - tau_c p_c``.
* ``tau_ce`` enters no term of U, so it sits at its lower bound (``tau_ce_min``, default
  ``tau_min``; block E can ask for more via ``tau_ce_min``).

The remaining 2-D problem over ``(tau_c, p_c)`` is solved by a dense grid (plus the previous
design's point, so a feasible previous design is never beaten by the grid) followed by zoom
refinements; the SINR and outage constraints depend on ``p_c`` only and are evaluated on the
candidate ``p_c`` values. No cvxpylayers layer is needed (see the derivation for why the 5-variable
problem is not jointly convex in the paper's variables).
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ...designs.sim import SimDesign
from ...scenarios import SimScenario
from ...systems.sim import SimSystem, sensing_model_kw
from . import block_b
from .sinr_power import min_robust_sinr_power
from ...hardware.sim import sim_cascade
from ...metrics.crb import crb_from_fim, orthogonal_probing, schur_lower_bound, sim_target_fim
from .objective import comm_power

#: ``resource_block(sinr_floor=...)``: the lower bound on p_comm when the beams cannot meet (23j)
SINR_FLOORS = ("beams", "sdr")

__all__ = ["resource_block", "crb_time_power_coefficients", "secrecy_rate_vs_power"]


@partial(jax.jit, static_argnames=("n_s", "idx_interest"))
def _schur_crb_diag(theta_sense, h1, h_inter, targets, positions, wavelength, dt, noise, model_kw,
                    n_s: int, idx_interest: tuple):
    G = sim_cascade(theta_sense, h1, h_inter)
    X = orthogonal_probing(h1.shape[1], n_s, jnp.asarray(1.0, jnp.real(G).dtype), dtype=G.dtype)

    def per_target(xi):
        J = sim_target_fim(xi, G, X, positions, wavelength, dt, noise, **model_kw)
        return jnp.diagonal(crb_from_fim(schur_lower_bound(J, idx_interest)))

    return jax.vmap(per_target)(targets)


@jax.jit
def _outage_batch(V, Z, hu, he_samples, delta, p, hu_samples=None):
    """Moment surrogate (25) along the power path ``p * (V, Z)`` (normalised units), ``(P, K)``."""
    return jax.vmap(lambda q: block_b.moment_surrogate(V * q, Z * q, hu, he_samples, delta,
                                                       hu_samples))(p)


def crb_time_power_coefficients(system: SimSystem, design: SimDesign, s: SimScenario,
                                idx_interest=(0, 1, 2)):
    """``(a, b)`` with ``CRB_total(tau_s, p_s) = (a + b / tau_s^2) / p_s`` (design model).

    One FIM per target at the current ``tau_s`` and ``p_s = 1`` W (the same model as
    ``objective.crb_total_theta``: ``sensing_model_kw(s)``, incl. the OFDM subcarriers -- the
    delay phase depends on ``r`` only, so the scaling law is unchanged), Schur complement (28) onto ``[theta, r, v]``, inverse:
    ``a = sum_i (C_theta + C_r)``, ``b = sum_i C_v tau_s^2`` (``idx_interest`` as in
    ``sim_crb_total``; the default is the objective's ``[theta, r, v]``). Reading ``a, b`` off the diagonal
    rather than off two CRB totals matters: with ill-conditioned FIMs the total is dominated by
    one badly observed parameter and differences of totals are round-off.
    """
    tau1 = float(design.tau[1])
    n_s = s.sensing_snapshots
    dt = tau1 * s.t_slot / n_s
    kw = {k: (None if v is None else jnp.asarray(v)) for k, v in sensing_model_kw(s).items()}
    c = np.asarray(_schur_crb_diag(design.theta_sense, system.h1, system.h_inter, system.targets,
                                   system.positions, s.wavelength, dt, s.noise, kw, n_s,
                                   tuple(idx_interest)))     # (T, len(idx_interest))
    is_v = np.asarray([i == 2 for i in idx_interest])              # xi = [theta, r, v, rcs, phi]
    return float(np.sum(c[:, ~is_v])), float(np.sum(c[:, is_v]) * tau1 ** 2)


def _quad_forms(h, W, Z):
    """``q[j, k] = |h_j^H w_k|^2``, ``z[j] = h_j^H Z h_j``."""
    q = np.abs(np.conj(h) @ W) ** 2
    z = np.real(np.einsum("jm,mn,jn->j", np.conj(h), Z, h))
    return q, z


def secrecy_rate_vs_power(hu, he, W_dir, Z_dir, noise, noise_eve, p):
    """Nominal ``sum_k R_k^sec(p)`` (bits, eq. (22) clipped) when the unit-power directions
    ``W_dir``, ``Z_dir`` are scaled to total power ``p`` (array), and the nominal user SINRs
    ``(len(p), K)``."""
    p = np.asarray(p, np.float64)[:, None]
    qu, zu = _quad_forms(hu, W_dir, Z_dir)
    K = qu.shape[0]
    sig_u = np.diagonal(qu)[None, :]
    int_u = (qu.sum(1) - np.diagonal(qu) + zu)[None, :]
    sinr_u = p * sig_u / (p * int_u + noise)
    r_u = np.log2(1.0 + sinr_u)
    if he.shape[0]:
        qe, ze = _quad_forms(he, W_dir, Z_dir)                           # (E, K), (E,)
        tot_e = qe.sum(1) + ze                                           # (E,)
        sinr_e = p[:, :, None] * qe.T[None] / (p[:, :, None] * (tot_e[None, None, :] - qe.T[None])
                                              + noise_eve)              # (P, K, E)
        r_e = np.max(np.log2(1.0 + sinr_e), axis=2)
    else:
        r_e = np.zeros_like(r_u)
    return np.sum(np.maximum(r_u - r_e, 0.0), axis=1), sinr_u


def _sensing_closed_form(tc, pc, *, a, b, e_bar, p_max, tau_min, tau_max, t_bar):
    """Optimal ``(tau_s, p_s, crb)`` for given ``(tau_c, p_c)`` arrays (``inf`` crb if infeasible):
    ``tau_s in [tau_min, min(tau_max, t_bar - tau_c)]``, ``tau_s p_s <= e_bar - tau_c p_c``."""
    e_s = e_bar - tc * pc
    hi = np.minimum(tau_max, t_bar - tc)
    t_star = np.sqrt(b / a) if a > 0 else np.inf
    ts = np.clip(np.maximum(np.maximum(e_s, 0.0) / p_max, t_star), tau_min, np.maximum(hi, tau_min))
    ps = np.minimum(p_max, np.maximum(e_s, 0.0) / ts)
    ok = (e_s > 0) & (hi >= tau_min) & (ps > 0)
    crb = np.where(ok, (a + b / ts ** 2) / np.where(ps > 0, ps, 1.0), np.inf)
    return ts, ps, crb


def resource_block(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha, norm,
                   robust: bool = True, eps_csi=None, tau_ce_min=None, key=None, n_mc: int = 128,
                   outage_margin: float = 0.0, n_grid: int = 96, n_zoom: int = 4,
                   ascent_rtol: float = 1e-12, n_backtrack: int = 30, outage_couplings: int = 0,
                   sinr_floor: str = "beams", ce_radius_tau: float | None = None, n_ce: int = 6,
                   _shared: dict | None = None):
    """Block D (004 (41)); returns ``(design, info)``; see the module docstring.

    ``norm``: anything with ``r_max`` and ``crb_min`` (``objective.Normalizers``). ``robust``: the
    SINR constraint holds over the CSI ball ``eps_csi`` (default ``s.csi_error_bound ||h_eff,k||``)
    and the outage surrogate is enforced (Monte-Carlo eavesdropper draws from ``key``, default
    ``PRNGKey(0)``; ``outage_couplings > 0``: drawn over Rician coupling realisations too, as in
    Block B, :func:`block_b.outage_samples`). ``W_BB`` and ``R_AN`` are rescaled to the new
    ``p_comm``.

    Ascent guarantee. The previous design's ``(tau_c, p_c)`` is a candidate of the search whenever
    it satisfies every constraint of this block ((41b)-(41e), ``tau_ce >= tau_ce_min``, (23j),
    (23f) when enforced), so the reduced model (exact: it *is* ``objective.utility`` with the
    sensing pair at its closed-form optimum) never ends below the previous point. The returned
    design is then checked with the driver's own merit (``lbcd._evaluate``, the jitted
    ``objective.utility`` on the design model); if that is lower than at the previous design by
    more than ``ascent_rtol * max(1, |U|)`` (round-off of an ill-conditioned CRB), a backtracking
    search on the segment previous -> new in ``(tau, tau_s p_s, tau_c p_c)`` (every constraint but
    (23f) is linear there, (23f) is re-checked) returns the first point that does not lower it, or
    the previous design. If the previous design violates a constraint of this block (typically
    ``tau_ce < tau_ce_min`` after block E raised its training-time requirement, or ``p_c`` below
    the robust-SINR power after B/C changed the beams), the optimum may lie below it -- that is
    the price of feasibility, not a model error: the output is returned and flagged
    ``info["restores_feasibility"]`` (names of the violated constraints; status suffix
    ``restores_feasibility(...)``).

    info: ``status``, ``utility`` (reduced model at the returned point; the merit after a
    backtrack), ``utility_true`` / ``utility_previous`` (the driver's merit at the returned /
    previous design),
    ``previous_violations`` (each constraint's violation at the previous design, > 0 = violated),
    ``restores_feasibility`` (list, empty if the previous design was feasible), ``backtrack``
    (step accepted by the safeguard, 1.0 = D's optimum), ``crb_coeffs (a, b)``,
    ``p_comm_min_sinr``, ``outage_enforced``, ``time_s``.
    """
    if ce_radius_tau is not None and robust and eps_csi is not None:
        return _ce_time_search(system, design, s, alpha=alpha, norm=norm, eps_csi=eps_csi,
                               tau_ce_min=tau_ce_min, key=key, n_mc=n_mc,
                               outage_margin=outage_margin, n_grid=n_grid, n_zoom=n_zoom,
                               ascent_rtol=ascent_rtol, n_backtrack=n_backtrack,
                               outage_couplings=outage_couplings, sinr_floor=sinr_floor,
                               ce_radius_tau=float(ce_radius_tau), n_ce=n_ce)
    t0 = time.perf_counter()
    info: dict = {}
    try:
        r_max, crb_min = float(norm.r_max), float(norm.crb_min)
        alpha = float(alpha)
        p_max, tau_min, tau_max = s.p_bs_max, s.tau_min, s.tau_max
        e_bar = s.energy_budget / s.t_slot
        tau_ce = float(max(tau_min, tau_ce_min if tau_ce_min is not None else tau_min))
        t_bar = s.phase_time - tau_ce       # tau_s + tau_c <= t_bar
        # _shared: the tau_ce search's candidates share the design, hence these two pieces
        if _shared is not None and "crb_coeffs" in _shared:
            a, b = _shared["crb_coeffs"]
        else:
            a, b = crb_time_power_coefficients(system, design, s)
            if _shared is not None:
                _shared["crb_coeffs"] = (a, b)
        info["crb_coeffs"] = (a, b)

        p0 = float(comm_power(design))
        _, hu, he = block_b._effective(system, design)
        hu, he = np.asarray(hu), np.asarray(he)
        if not p0 > 0:
            info["status"] = "no_comm_direction: previous design kept"
            return design, info
        W_dir, Z_dir = np.asarray(design.W) / np.sqrt(p0), np.asarray(design.R_AN) / p0
        gamma = 10.0 ** (s.sinr_min_db / 10.0)
        K = hu.shape[0]

        # (23j): SINR is increasing in p_c -> p_c >= p_min, exact (worst case via the S-lemma).
        if robust:
            eps = (s.csi_error_bound * np.linalg.norm(hu, axis=1) if eps_csi is None
                   else np.asarray(eps_csi, np.float64))
        else:
            eps = np.zeros(K)
        p_min, sinr_ok = 0.0, True
        for k in range(K):
            wk = W_dir[:, k:k + 1]
            Q = wk @ wk.conj().T - gamma * (W_dir @ W_dir.conj().T - wk @ wk.conj().T + Z_dir)
            m = float(block_b.ball_min_quadratic(jnp.asarray(Q), jnp.asarray(hu[k]), eps[k]))
            if m > 0:
                p_min = max(p_min, gamma * s.noise / m)
            else:
                sinr_ok = False
        info["p_comm_min_sinr"] = p_min if sinr_ok else np.inf
        if not sinr_ok:
            p_min = 0.0             # no floor from these beams (the users before k set one)
        if sinr_floor not in SINR_FLOORS:
            raise ValueError(f"sinr_floor={sinr_floor!r}: must be one of {list(SINR_FLOORS)}")
        if not sinr_ok and sinr_floor == "sdr":
            p_sdr, st_sdr = min_robust_sinr_power(hu, eps, gamma, s.noise)
            info["p_comm_min_sdr"], info["p_comm_min_sdr_status"] = p_sdr, st_sdr
            if np.isfinite(p_sdr):
                p_min = p_sdr       # a floor for B's feasibility, not (23j) for these beams

        outage_fn = None
        if robust:
            k_mc = jax.random.PRNGKey(0) if key is None else key
            if _shared is not None and "outage_samples" in _shared:
                hu_s, he_s = _shared["outage_samples"]
            else:
                hu_s, he_s = block_b.outage_samples(system, design, s, k_mc, n_mc,
                                                    outage_couplings)
                if _shared is not None:
                    _shared["outage_samples"] = (hu_s, he_s)
            delta = block_b.outage_delta(s.eps_out)
            V_dir = jnp.einsum("mk,nk->kmn", W_dir, W_dir.conj()) / s.noise
            Z_n = jnp.asarray(Z_dir) / s.noise
            # eavesdropper samples rescaled to the user noise so the same p / noise factor applies
            he_n = he_s * jnp.sqrt(s.noise / s.noise_eve)
            target = s.r_min + outage_margin

            def outage_fn(p):
                n = len(p)
                pad = np.concatenate([p, np.full((-n) % 32, p[-1])])   # few distinct shapes
                f = _outage_batch(V_dir, Z_n, jnp.asarray(hu), he_n, delta, jnp.asarray(pad),
                                  hu_s)
                return np.all(np.asarray(f)[:n] >= target, axis=1)

        def evaluate(tc, pc, use_outage):
            ts, ps, crb = _sensing_closed_form(tc, pc, a=a, b=b, e_bar=e_bar, p_max=p_max,
                                               tau_min=tau_min, tau_max=tau_max, t_bar=t_bar)
            pu, inv = np.unique(pc, return_inverse=True)      # rates / outage depend on p_c only
            sec, _ = secrecy_rate_vs_power(hu, he, W_dir, Z_dir, s.noise, s.noise_eve, pu)
            sec = sec[inv].reshape(pc.shape)
            # crb = inf where sensing is infeasible (0 * inf = nan at alpha = 0): masked by `ok`
            with np.errstate(invalid="ignore"):
                u = (1.0 - alpha) * tc * sec / r_max - alpha * crb / crb_min
            ok = np.isfinite(u) & np.isfinite(crb) & (pc <= p_max)
            ok &= (tc >= tau_min) & (tc <= tau_max)
            ok &= (tc + ts <= t_bar + 1e-15) & (tc * pc + ts * ps <= e_bar * (1 + 1e-12))
            if sinr_ok or p_min > 0:
                ok &= pc >= p_min
            if use_outage:
                ok &= outage_fn(pu)[inv].reshape(pc.shape)
            return np.where(ok, u, -np.inf), ts, ps

        tc_hi = min(tau_max, t_bar - tau_min)
        if tc_hi < tau_min:
            info["status"] = "time_infeasible: previous design kept"
            return design, info
        tcs = np.linspace(tau_min, tc_hi, n_grid)

        def grid():
            lo = max(p_min, 1e-9 * p_max)
            if not lo < p_max:
                return lo, None, None, np.full((1, 1), -np.inf), False
            TC, PC = np.meshgrid(tcs, np.geomspace(lo, p_max, n_grid), indexing="ij")
            u, _, _ = evaluate(TC, PC, robust)
            if robust and not np.isfinite(u).any():
                u, _, _ = evaluate(TC, PC, False)  # report, then allocate without (23f)
                return lo, TC, PC, u, False
            return lo, TC, PC, u, robust

        p_lo, TC, PC, u, use_outage = grid()
        if not sinr_ok and p_min > 0 and not np.isfinite(u).any():
            # the SDR floor does not fit P_max / the energy budget: allocate as without it
            p_min = 0.0
            info["sdr_sinr_floor_dropped"] = True
            p_lo, TC, PC, u, use_outage = grid()
        info["outage_enforced"] = use_outage
        if not np.isfinite(u).any():
            info["status"] = "infeasible: previous design kept"
            return design, info

        # The previous design against this block's constraints (> 0: violated; relative units).
        tau0 = np.asarray(design.tau, np.float64)
        ts0, tc0, ps0 = float(tau0[1]), float(tau0[2]), float(design.p_sense)
        viol = {
            "tau_ce_min": tau_ce - float(tau0[0]),
            "time": ts0 + tc0 - t_bar,
            "energy": (ts0 * ps0 + tc0 * p0) / e_bar - 1.0,
            "power": max(ps0, p0) / p_max - 1.0,
            "tau_bounds": max(tau_min - min(ts0, tc0), max(ts0, tc0) - tau_max),
            "sinr": (p_min - p0) / p_max if (sinr_ok or p_min > 0) else -np.inf,
            "outage": (0.0 if bool(outage_fn(np.asarray([p0]))[0]) else 1.0) if use_outage
            else -np.inf,
        }
        info["previous_violations"] = viol
        restores = sorted(k for k, v in viol.items() if v > 1e-9)
        info["restores_feasibility"] = restores

        i, j = np.unravel_index(np.argmax(u), u.shape)
        tc, pc, best = TC[i, j], PC[i, j], u[i, j]
        # The previous (tau_c, p_c) is a candidate: when it is feasible here, the model optimum
        # (which equals U, the sensing pair at its closed-form optimum) cannot end below it.
        u0m, _, _ = evaluate(np.asarray([[tc0]]), np.asarray([[p0]]), use_outage)
        if u0m[0, 0] > best:
            tc, pc, best = tc0, p0, u0m[0, 0]
        dt, lp = (tcs[1] - tcs[0]) if n_grid > 1 else 0.0, np.log(p_max / p_lo) / max(n_grid - 1, 1)
        for _ in range(n_zoom):
            tz = np.clip(tc + np.linspace(-dt, dt, 21), tau_min, tc_hi)
            pz = np.clip(pc * np.exp(np.linspace(-lp, lp, 21)), p_lo, p_max)
            TZ, PZ = np.meshgrid(tz, pz, indexing="ij")
            uz, _, _ = evaluate(TZ, PZ, use_outage)
            iz = np.unravel_index(np.argmax(uz), uz.shape)
            if uz[iz] > best:
                tc, pc, best = TZ[iz], PZ[iz], uz[iz]
            dt, lp = dt / 10.0, lp / 10.0
        _, ts, ps = evaluate(np.asarray([[tc]]), np.asarray([[pc]]), use_outage)
        ts, ps = float(ts[0, 0]), float(ps[0, 0])
        rdt = design.tau.dtype
        scale = np.sqrt(pc / p0)
        new = SimDesign(design.theta_comm, design.theta_sense, design.theta_ce, design.W_RF,
                        design.W_BB * scale, design.R_AN * (pc / p0),
                        jnp.asarray([tau_ce, ts, tc], rdt), jnp.asarray(ps, rdt), jnp.asarray(pc, rdt))
        info["utility"] = float(best)
        st = "optimal"
        if not sinr_ok:
            st += "; sinr_constraint_unattainable_at_any_power"
            if p_min > 0:
                st += "; sdr_sinr_floor"
        if robust and not use_outage:
            st += "; outage_surrogate_unattainable_at_any_power"

        # Safeguard with the driver's merit (same jitted function, hence the same round-off).
        from .lbcd import _evaluate
        u_old = _evaluate(system, design, s, alpha, norm)[0]
        u_new = _evaluate(system, new, s, alpha, norm)[0]
        info["utility_previous"], info["backtrack"] = u_old, 1.0
        tol = ascent_rtol * max(1.0, abs(u_old))
        if restores:
            st += f"; restores_feasibility({','.join(restores)})"
        elif not u_new >= u_old - tol:
            # Segment previous -> new in (tau, e_s = tau_s p_s, e_c = tau_c p_c): (41b)-(41e),
            # tau_ce >= tau_ce_min and (23j) (e_c >= p_min tau_c) are linear there and hold at
            # both ends; (23f) depends on p_c alone and is re-checked.
            tau1 = np.asarray([tau_ce, ts, tc])
            e0, e1 = np.asarray([ts0 * ps0, tc0 * p0]), np.asarray([ts * ps, tc * pc])
            kept = design
            u_kept, step = u_old, 0.0
            t = 1.0
            for _ in range(n_backtrack):
                t *= 0.5
                tau_t = (1.0 - t) * tau0 + t * tau1
                e_t = (1.0 - t) * e0 + t * e1
                ps_t, pc_t = e_t[0] / tau_t[1], e_t[1] / tau_t[2]
                if use_outage and not bool(outage_fn(np.asarray([pc_t]))[0]):
                    continue
                sc = np.sqrt(pc_t / p0)
                cand = SimDesign(design.theta_comm, design.theta_sense, design.theta_ce,
                                 design.W_RF, design.W_BB * sc, design.R_AN * (pc_t / p0),
                                 jnp.asarray(tau_t, rdt), jnp.asarray(ps_t, rdt),
                                 jnp.asarray(pc_t, rdt))
                u_t = _evaluate(system, cand, s, alpha, norm)[0]
                if u_t >= u_old:
                    kept, u_kept, step = cand, u_t, t
                    break
            info["backtrack"] = step
            info["utility_model_optimum"] = float(best)
            info["utility"] = u_kept        # the merit itself at the backtracked point
            st += (f"; backtracked(step={step:.3g})" if step > 0
                   else "; previous_design_kept(merit_not_increased)")
            new, u_new = kept, u_kept
        info["utility_true"] = u_new
        info["status"] = st
        return new, info
    except Exception as exc:                                         # never raise mid-BCD
        info["status"] = f"error: {type(exc).__name__}: {str(exc)[:300]}; previous design kept"
        return design, info
    finally:
        info["time_s"] = time.perf_counter() - t0


def _sinr_attainable(status: str) -> bool:
    """(23j) met by the returned design's beams (or, with the SDR floor, by some beams at its
    power), judged from :func:`resource_block`'s status."""
    return ("sinr_constraint_unattainable_at_any_power" not in status
            or "sdr_sinr_floor" in status)


def _ce_time_search(system, design, s, *, eps_csi, tau_ce_min, ce_radius_tau, n_ce, **kw):
    """Block D with ``tau_ce`` chosen too (``resource_block(ce_radius_tau=...)``).

    Candidates ``geomspace(lo, hi, n_ce)`` and the previous ``tau_ce`` (when in ``[lo, hi]``),
    ``lo = max(tau_min, tau_ce_min)``, ``hi = min(tau_max, phase_time - 2 tau_min)`` (room for
    ``tau_s = tau_c = tau_min``). Each is :func:`resource_block` with ``tau_ce`` fixed at it
    (``tau_ce_min = tau``) and radii ``eps_csi sqrt(ce_radius_tau / tau)``. Ranked by (status
    not a failure, (23j) attainable, the driver's merit ``utility_true``). A candidate above the
    previous ``tau_ce`` is flagged ``restores_feasibility(tau_ce_min)`` by the inner call, so
    the driver accepts a merit loss only for a longer training; the previous ``tau_ce`` is a
    candidate, so the ascent guarantee of the fixed-``tau_ce`` block carries over whenever (23j)
    is attainable there. ``info["ce_search"]``: ``[(tau_ce, attainable, utility_true, status)]``.
    """
    t0 = time.perf_counter()
    eps = np.asarray(eps_csi, np.float64)
    lo = float(max(s.tau_min, tau_ce_min if tau_ce_min is not None else s.tau_min))
    hi = float(min(s.tau_max, s.phase_time - 2.0 * s.tau_min))
    cands = {float(t) for t in np.geomspace(lo, max(hi, lo), max(int(n_ce), 1))}
    tau0 = float(np.asarray(design.tau)[0])
    if lo <= tau0 <= hi:
        cands.add(tau0)
    best, log, shared = None, [], {}      # CRB law and outage draws: computed once
    for tau in sorted(cands):
        d, info = resource_block(system, design, s, eps_csi=eps * np.sqrt(ce_radius_tau / tau),
                                 tau_ce_min=tau, robust=True, _shared=shared, **kw)
        st = str(info.get("status", ""))
        ok = not (st.startswith("error") or "previous design kept" in st)
        att = ok and _sinr_attainable(st)
        u = float(info.get("utility_true", -np.inf)) if ok else -np.inf
        log.append((tau, att, u, st))
        rank = (ok, att, u)
        if best is None or rank > best[0]:
            best = (rank, d, info, tau)
    _, d, info, tau = best
    info = dict(info)
    info["ce_search"] = log
    info["ce_radius_tau"] = ce_radius_tau
    info["tau_ce_chosen"] = tau
    info["time_s"] = time.perf_counter() - t0
    return d, info
