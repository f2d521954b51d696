"""Discretisation phase of L-BCD (paper 004 eqs. (31)-(32), Algorithm 1) and the quantisation-loss
bound (Prop. 3, eq. (55), corrected).

``discretize``: (1) project every phase set (``theta_comm``, ``theta_sense``, ``theta_ce``) onto the
b-bit grid ``Q_b = {2 pi q / 2^b}`` (eq. (31), circle distance, ``jisac.hardware.sim.quantize_phases``);
(2) if the projection pushed a layer outside the reconfiguration constraint (23h), restore it on
the grid by greedy one-step moves of the two phase sets towards each other
(:func:`repair_reconfiguration`; the paper's (31)-(32) leave this case open, and a discrete design
that breaks (23h) is not a solution of (23)); (3) greedy local search (32) over the ``n_search``
most sensitive elements of ``theta_comm`` and ``theta_sense`` (ranked by ``|dU/dtheta|``,
``jax.grad``): each in turn tries its two grid neighbours ``theta +- 2 pi / 2^b`` and moves to the
better one only if ``U`` strictly increases *and* the reconfiguration residual ``sum_l
[||Phi_l^comm - Phi_l^sense||^2 - delta_Phi]_+`` does not increase. Hence the search never worsens
``U`` nor (23h); the repair may lower ``U`` (the price of feasibility, reported).
``theta_ce`` does not enter ``U`` (it only shapes Block E's CSI error), so it is only projected.

``quantization_loss_bound``: ``|U(theta_q) - U(theta)| <= (pi / 2^b) sup_{xi in B} ||grad U(xi)||_1
<= (pi / 2^b) sqrt(N_tot) sup_B ||grad U||_2``, ``B`` the box of half-width ``pi/2^b`` around
``theta`` (mean-value theorem, ``||Delta||_inf <= pi/2^b``). The sup is estimated by sampling
``B`` (points on the segment to the projected point, random points, random corners). Why (55) as
printed is replaced: ``docs/derivations/sim_lbcd.md`` ("Discretisation").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...designs.sim import SimDesign
from ...hardware.sim import quantize_phases
from ...scenarios import SimScenario
from ...systems.sim import SimSystem
from .block_c import reconfiguration_residual
from .objective import Normalizers, crb_total_theta, secrecy_throughput_theta

__all__ = ["grid_step", "discretize", "quantization_loss_bound", "utility_of_phases"]


def grid_step(bits, shape, dtype) -> jax.Array:
    """``2 pi / 2^b`` broadcast to ``shape = (L, N)``; ``bits`` int or per-layer ``(L,)``."""
    b = jnp.asarray(bits)
    if b.ndim == 1:
        b = b[:, None]
    return jnp.broadcast_to(2.0 * jnp.pi / (2.0 ** b.astype(dtype)), shape)


def utility_of_phases(theta_comm, theta_sense, system, design, s, alpha, norm, model="design"):
    """``U`` of (24) with the phases replaced (W, R_AN, tau, powers from ``design``)."""
    S = secrecy_throughput_theta(theta_comm, system, design, s, model)
    crb = crb_total_theta(theta_sense, design.p_sense, system, design, s, model)
    return (1.0 - alpha) * S / norm[0] - alpha * crb / norm[1]


_utility_of_phases = jax.jit(utility_of_phases, static_argnames=("s", "model"))


@functools.lru_cache(maxsize=None)
def _local_search_fn(s: SimScenario, model: str, n_search: int, n_passes: int):
    def u_comm(tc, system, design, alpha, norm):
        return (1.0 - alpha) * secrecy_throughput_theta(tc, system, design, s, model) / norm[0]

    def u_sense(ts, system, design, alpha, norm):
        return -alpha * crb_total_theta(ts, design.p_sense, system, design, s, model) / norm[1]

    @jax.jit
    def run(tc, ts, system, design, alpha, norm, delta, step):
        shape = tc.shape
        n = tc.size
        step_f = jnp.concatenate([step.reshape(-1), step.reshape(-1)])
        two_pi = 2.0 * jnp.pi

        def split(x):
            return x[:n].reshape(shape), x[n:].reshape(shape)

        def parts(x):
            c, se = split(x)
            return u_comm(c, system, design, alpha, norm), u_sense(se, system, design, alpha, norm)

        def one_pass(carry, _):
            x, uc, us = carry
            gc = jax.grad(u_comm)(split(x)[0], system, design, alpha, norm)
            gs = jax.grad(u_sense)(split(x)[1], system, design, alpha, norm)
            sens = jnp.abs(jnp.concatenate([gc.reshape(-1), gs.reshape(-1)]))
            _, order = lax.top_k(sens, n_search)

            def visit(c, i):
                x, uc, us = c
                res0 = reconfiguration_residual(*split(x), delta)

                def trial(sign):
                    xt = x.at[i].set(jnp.mod(x[i] + sign * step_f[i], two_pi))
                    tc_, ts_ = split(xt)
                    new_c = lax.cond(i < n, lambda: u_comm(tc_, system, design, alpha, norm),
                                     lambda: uc)
                    new_s = lax.cond(i < n, lambda: us,
                                     lambda: u_sense(ts_, system, design, alpha, norm))
                    return xt, new_c, new_s, reconfiguration_residual(tc_, ts_, delta)

                xp, ucp, usp, rp = trial(1.0)
                xm, ucm, usm, rm = trial(-1.0)
                up, um, u0 = ucp + usp, ucm + usm, uc + us
                ok_p = (up > u0) & (rp <= res0)
                ok_m = (um > u0) & (rm <= res0)
                take_p = ok_p & (~ok_m | (up >= um))
                take_m = ok_m & ~take_p
                x = jnp.where(take_p, xp, jnp.where(take_m, xm, x))
                uc = jnp.where(take_p, ucp, jnp.where(take_m, ucm, uc))
                us = jnp.where(take_p, usp, jnp.where(take_m, usm, us))
                return (x, uc, us), take_p | take_m

            (x, uc, us), moved = lax.scan(visit, (x, uc, us), order)
            return (x, uc, us), jnp.sum(moved)

        x0 = jnp.concatenate([tc.reshape(-1), ts.reshape(-1)])
        uc0, us0 = parts(x0)
        (x, uc, us), moves = lax.scan(one_pass, (x0, uc0, us0), None, length=n_passes)
        tc_new, ts_new = split(x)
        return tc_new, ts_new, uc0 + us0, uc + us, moves

    return run


def repair_reconfiguration(tc, ts, step, delta, system: SimSystem, design: SimDesign,
                           s: SimScenario, *, alpha, normv, model: str = "design",
                           max_moves: int | None = None):
    """Restore (23h) on the b-bit grid after the projection (31): greedy one-step grid moves.

    Projecting ``theta_comm`` and ``theta_sense`` independently can push a layer that sat on the
    (23h) boundary ``||Phi_l^comm - Phi_l^sense||_F^2 <= delta_Phi`` outside it, and the local
    search (32) only refuses to make that worse. While some layer violates (23h), every element
    ``n`` of a violating layer offers one move: ``theta_sense[l, n]`` one grid step towards
    ``theta_comm[l, n]`` or ``theta_comm[l, n]`` one step towards ``theta_sense[l, n]`` (the same
    reduction ``r = 2 cos(d') - 2 cos(d)`` of the layer distance, ``d = wrap(theta_c - theta_s)``,
    ``d' = d -+ step``), whichever loses less utility to first order (``g . move``, ``g = dU/dtheta``
    recomputed after each move). The move with the largest reduction per unit of (positive) loss
    is taken; moves that do not lower U to first order come first, largest reduction first. Every
    move lowers the distance of a violating layer by ``r > 0`` and the distance is 0 when the two
    phase sets coincide, so the loop ends with (23h) met, within ``sum |d| / step`` moves.

    Returns ``(tc, ts, n_moves)``; phases stay on the grid (``step`` is the grid step, (L, N)).
    """
    vg = _grad_fn(s, model)
    tc, ts = jnp.asarray(tc), jnp.asarray(ts)
    stp = np.asarray(step, np.float64)
    cap = int(np.ceil(np.sum(np.pi / stp))) + 1 if max_moves is None else int(max_moves)
    rdt = jnp.real(design.p_sense).dtype
    n_moves = 0
    while n_moves < cap:
        d = np.angle(np.exp(1j * (np.asarray(tc, np.float64) - np.asarray(ts, np.float64))))
        dist = np.sum(2.0 - 2.0 * np.cos(d), axis=-1)
        bad = dist > delta
        if not bad.any():
            break
        _, (gc, gs) = vg(tc[None], ts[None], system, design, jnp.asarray(alpha, rdt), normv)
        gc, gs = np.asarray(gc[0], np.float64), np.asarray(gs[0], np.float64)
        sgn = np.sign(d)
        d_new = d - sgn * stp
        red = 2.0 * np.cos(d_new) - 2.0 * np.cos(d)              # > 0 iff |d_new| < |d|
        loss_s = -gs * (sgn * stp)                                 # theta_s += sgn * step
        loss_c = -gc * (-sgn * stp)                                # theta_c -= sgn * step
        use_c = loss_c < loss_s
        loss = np.where(use_c, loss_c, loss_s)
        ok = bad[:, None] & (red > 1e-12)
        free = ok & (loss <= 0.0)
        if free.any():
            score = np.where(free, red, -np.inf)
        else:
            score = np.where(ok, red / np.maximum(loss, 1e-300), -np.inf)
        l, n = np.unravel_index(int(np.argmax(score)), score.shape)
        two_pi = 2.0 * np.pi
        if use_c[l, n]:
            tc = tc.at[l, n].set(jnp.mod(tc[l, n] - sgn[l, n] * stp[l, n], two_pi))
        else:
            ts = ts.at[l, n].set(jnp.mod(ts[l, n] + sgn[l, n] * stp[l, n], two_pi))
        n_moves += 1
    return tc, ts, n_moves


def discretize(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha, norm: Normalizers,
               bits=None, n_search: int = 32, n_passes: int = 1, delta_phi: float | None = None,
               model: str = "design") -> tuple[SimDesign, dict]:
    """Project all SIM phases to ``bits``-bit (default ``s.phase_bits``; int or per-layer ``(L,)``)
    restore (23h) on the grid (:func:`repair_reconfiguration`), then refine the ``n_search`` most
    sensitive elements of ``theta_comm``/``theta_sense`` by ``n_passes`` greedy +-1-step passes
    (eq. (32)); only strict improvements of ``U`` that do not increase the reconfiguration residual
    are accepted.

    ``info``: ``status`` (``"ok"``, or ``"reconfiguration_violated"`` if the returned point still
    breaks (23h); the repair step makes this unreachable unless its move cap is hit),
    ``utility_continuous``, ``utility_projected`` (after (31)), ``utility_repaired`` (after the
    (23h) repair; equal to the projected one when no move was needed), ``repair_moves``,
    ``utility_discrete``, ``moves`` (accepted local-search moves per pass), ``residual``
    (reconfiguration residual of the returned point), ``bits``.
    """
    bits = s.phase_bits if bits is None else bits
    delta = float(s.delta_phi if delta_phi is None else delta_phi)
    rdt = jnp.real(design.p_sense).dtype
    qc = quantize_phases(design.theta_comm, bits)
    qs = quantize_phases(design.theta_sense, bits)
    qe = quantize_phases(design.theta_ce, bits)
    n_el = 2 * design.theta_comm.size
    run = _local_search_fn(s, model, min(int(n_search), n_el), int(n_passes))
    normv = jnp.asarray([norm.r_max, norm.crb_min], rdt)
    step = grid_step(bits, design.theta_comm.shape, rdt)
    u_cont = _utility_of_phases(design.theta_comm, design.theta_sense, system, design, s, alpha,
                               normv, model)
    u_proj = _utility_of_phases(qc, qs, system, design, s, alpha, normv, model)
    qc, qs, n_repair = repair_reconfiguration(qc, qs, step, delta, system, design, s,
                                              alpha=alpha, normv=normv, model=model)
    tc, ts, u_rep, u_disc, moves = run(qc, qs, system, design, jnp.asarray(alpha, rdt), normv,
                                       jnp.asarray(delta, rdt), step)
    new = SimDesign(tc, ts, qe, design.W_RF, design.W_BB, design.R_AN, design.tau,
                    design.p_sense, design.p_comm)
    res = float(reconfiguration_residual(tc, ts, delta))
    info = {
        "status": "ok" if res <= 0.0 else "reconfiguration_violated",
        "utility_continuous": float(u_cont),
        "utility_projected": float(u_proj),
        "utility_repaired": float(u_rep),
        "repair_moves": int(n_repair),
        "utility_discrete": float(u_disc),
        "moves": np.asarray(moves).tolist(),
        "residual": res,
        "bits": np.asarray(bits).tolist(),
    }
    return new, info


@functools.lru_cache(maxsize=None)
def _grad_fn(s: SimScenario, model: str):
    def u(tc, ts, system, design, alpha, norm):
        return utility_of_phases(tc, ts, system, design, s, alpha, norm, model)

    @jax.jit
    def vg(tc, ts, system, design, alpha, norm):
        return jax.vmap(jax.value_and_grad(u, argnums=(0, 1)),
                        in_axes=(0, 0, None, None, None, None))(tc, ts, system, design, alpha, norm)
    return vg


def quantization_loss_bound(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha,
                            norm: Normalizers, bits=None, key=None, n_segment: int = 9,
                            n_random: int = 8, model: str = "design") -> dict:
    """Corrected Prop. 3 / eq. (55) bound on ``|U(Q_b(theta)) - U(theta)|`` (plain projection (31)).

    With ``Delta = wrap(Q_b(theta) - theta)``, ``|Delta_i| <= pi / 2^b_i`` (half a grid step) and the
    mean-value theorem on the segment ``[theta, theta + Delta]`` inside the box ``B``::

        |U(theta_q) - U(theta)| <= sup_{xi in B} sum_i |dU/dtheta_i(xi)| pi / 2^b_i      ("bound")
                                <= sqrt(N_tot) (pi / 2^b) sup_B ||grad U||_2            ("bound_l2")

    ``N_tot = 2 L N`` (``theta_comm`` and ``theta_sense``; ``theta_ce`` does not enter ``U``). The
    sup (the Lipschitz constant of ``U`` on ``B`` in the weighted l1 / l2 norm) is estimated by the
    maximum over ``n_segment`` points of the segment, ``n_random`` uniform points of ``B`` and
    ``n_random`` random corners of ``B`` (``key``; default ``PRNGKey(0)``).

    Returns ``actual`` (the loss itself), ``first_order`` (``|grad U(theta) . Delta|``), ``bound``,
    ``bound_l2``, ``lipschitz_l2``, ``printed_55`` (eq. (55) as printed with ``L_f =`` the l2
    constant and ``E||Delta||^2`` replaced by its bound ``N_tot pi^2 / 4^b``, for comparison).
    """
    bits = s.phase_bits if bits is None else bits
    key = jax.random.PRNGKey(0) if key is None else key
    rdt = jnp.real(design.p_sense).dtype
    tc, ts = design.theta_comm, design.theta_sense
    shape = tc.shape
    half = 0.5 * grid_step(bits, shape, rdt)                                   # pi / 2^b, (L, N)
    dc = jnp.angle(jnp.exp(1j * (quantize_phases(tc, bits) - tc)))
    ds = jnp.angle(jnp.exp(1j * (quantize_phases(ts, bits) - ts)))
    t = jnp.linspace(0.0, 1.0, n_segment, dtype=rdt)
    k1, k2 = jax.random.split(key)
    ur = jax.random.uniform(k1, (2, n_random) + shape, rdt, -1.0, 1.0)
    cr = jnp.where(jax.random.bernoulli(k2, 0.5, (2, n_random) + shape), 1.0, -1.0).astype(rdt)
    pts_c = jnp.concatenate([tc[None] + t[:, None, None] * dc[None], tc[None] + ur[0] * half[None],
                             tc[None] + cr[0] * half[None]])
    pts_s = jnp.concatenate([ts[None] + t[:, None, None] * ds[None], ts[None] + ur[1] * half[None],
                             ts[None] + cr[1] * half[None]])
    normv = jnp.asarray([norm.r_max, norm.crb_min], rdt)
    vals, (gc, gs) = _grad_fn(s, model)(pts_c, pts_s, system, design, jnp.asarray(alpha, rdt), normv)
    l1w = jnp.sum(jnp.abs(gc) * half[None], axis=(1, 2)) + jnp.sum(jnp.abs(gs) * half[None], axis=(1, 2))
    l2 = jnp.sqrt(jnp.sum(gc ** 2, axis=(1, 2)) + jnp.sum(gs ** 2, axis=(1, 2)))
    n_tot = 2 * tc.size
    hmax = float(jnp.max(half))
    L2 = float(jnp.max(l2))
    first = float(jnp.abs(jnp.sum(gc[0] * dc) + jnp.sum(gs[0] * ds)))
    return {
        "actual": float(jnp.abs(vals[n_segment - 1] - vals[0])),
        "first_order": first,
        "bound": float(jnp.max(l1w)),
        "bound_l2": float(np.sqrt(n_tot) * hmax * L2),
        "lipschitz_l2": L2,
        "printed_55": float(L2 * np.sqrt(n_tot) * hmax + 0.5 * L2 ** 2 * n_tot * hmax ** 2),
        "n_tot": n_tot,
    }
