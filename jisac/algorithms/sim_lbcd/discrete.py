"""Discretisation phase of L-BCD (paper 004 eqs. (31)-(32), Algorithm 1) and the quantisation-loss
bound (Prop. 3, eq. (55), corrected).

``discretize``: (1) project every phase set (``theta_comm``, ``theta_sense``, ``theta_ce``) onto the
b-bit grid ``Q_b = {2 pi q / 2^b}`` (eq. (31), circle distance, ``jisac.hardware.sim.quantize_phases``);
(2) greedy local search (32) over the ``n_search`` most sensitive elements of ``theta_comm`` and
``theta_sense`` (ranked by ``|dU/dtheta|`` at the projected point, ``jax.grad``): each in turn
tries its two grid neighbours ``theta +- 2 pi / 2^b`` and moves to the better one only if ``U``
strictly increases *and* the reconfiguration residual ``sum_l [||Phi_l^comm - Phi_l^sense||^2 -
delta_Phi]_+`` does not increase. Hence the search never worsens ``U`` nor (23h).
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


def discretize(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha, norm: Normalizers,
               bits=None, n_search: int = 32, n_passes: int = 1, delta_phi: float | None = None,
               model: str = "design") -> tuple[SimDesign, dict]:
    """Project all SIM phases to ``bits``-bit (default ``s.phase_bits``; int or per-layer ``(L,)``)
    and refine the ``n_search`` most sensitive elements of ``theta_comm``/``theta_sense`` by
    ``n_passes`` greedy +-1-step passes (eq. (32)); only strict improvements of ``U`` that do not
    increase the reconfiguration residual are accepted.

    ``info``: ``status`` (``"ok"``, or ``"reconfiguration_violated"`` when the returned point breaks
    (23h) -- projection can push a boundary point out, local search never makes it worse),
    ``utility_continuous``, ``utility_projected``, ``utility_discrete``, ``moves`` (accepted moves
    per pass), ``residual`` (reconfiguration residual of the returned point), ``bits``.
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
    tc, ts, u_proj, u_disc, moves = run(qc, qs, system, design, jnp.asarray(alpha, rdt), normv,
                                        jnp.asarray(delta, rdt), step)
    new = SimDesign(tc, ts, qe, design.W_RF, design.W_BB, design.R_AN, design.tau,
                    design.p_sense, design.p_comm)
    res = float(reconfiguration_residual(tc, ts, delta))
    info = {
        "status": "ok" if res <= 0.0 else "reconfiguration_violated",
        "utility_continuous": float(u_cont),
        "utility_projected": float(u_proj),
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
