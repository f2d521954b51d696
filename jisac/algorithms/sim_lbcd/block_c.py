"""L-BCD Block C: communication SIM phases (paper 004 eqs. (30), (39)-(40)).

Problem (one drop; W_RF, W_BB, R_AN, tau, powers and theta_sense fixed)::

    min_{|z_ln| = 1}  f(z) + lambda_Phi sum_l [ ||Phi_l^comm - Phi_l^sense||_F^2 - delta_Phi ]_+   (39), (40)

with ``z = exp(j theta_comm)`` and, by ``mode``:

* ``"secrecy"`` (default): ``f = -(1 - alpha) S(theta_comm) / R_max``, the secrecy part of ``-U``
  (``S = tau_comm sum_k R_k^sec`` through the cascade, ``objective.secrecy_throughput_theta``);
* ``"fit"``: ``f = ||G_SIM(theta_comm) - F_desired||_F^2`` (the Frobenius fit (30)).

Solver: layer-wise Riemannian CG with Armijo line search on the circle manifold
(``jisac.manifold.riemannian_cg`` / ``minimize_layer``): sweep ``l = 1..L``, each layer
``n_steps`` CG steps with the other layers fixed (eq. (40)), ``n_sweeps`` sweeps.

Penalty schedule (Theorem 1 (C4), Algorithm 1 "Penalty Parameter Update"): after a round of
sweeps, if the reconfiguration residual ``sum_l [||.||^2 - delta]_+`` is positive, ``lambda_Phi <-
min(kappa lambda_Phi, lambda_max)`` and another round starts from the current point, at most
``max_rounds`` rounds. ``[.]_+`` is an exact penalty, so a finite ``lambda_Phi`` makes the
constraint hold at the penalised minimiser; because the hinge is non-smooth at the boundary a
line-search method can stop a hair outside, so the penalty uses the tightened tolerance
``(1 - margin) delta_Phi``. If the residual is still positive after the last round (``restore=True``)
:func:`restore_reconfiguration` pulls the offending layers back onto the constraint (status
``"restored"``), so the block never returns a point that silently violates (23h). The final
``lambda_Phi`` is returned in ``info`` for the driver to carry. See
``docs/derivations/sim_lbcd.md`` ("Block C").

Helpers shared with Block A: :func:`reconfiguration_residual`, :func:`restore_reconfiguration`,
:func:`penalized_layer_descent`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ... import manifold as mf
from ...designs.sim import SimDesign
from ...hardware.sim import sim_cascade
from ...scenarios import SimScenario
from ...systems.sim import SimSystem
from .objective import Normalizers, inter_layer, secrecy_throughput_theta, utility

__all__ = [
    "frobenius_fit",
    "reconfiguration_distances",
    "reconfiguration_residual",
    "restore_reconfiguration",
    "penalized_layer_descent",
    "comm_sim_block",
]

_MODES = ("secrecy", "fit")
# jitted once per (scenario, model): eager evaluation of the jacfwd FIMs costs seconds
_utility = jax.jit(utility, static_argnames=("s", "model"))


def frobenius_fit(theta: Float[Array, "L N"], F_desired: Complex[Array, "N M"],
                  h1: Complex[Array, "N M"], h_inter: Complex[Array, "Lm1 N N"]) -> Float[Array, ""]:
    """``||G_SIM(theta) - F_desired||_F^2`` (004 eq. (30), first term), ``G_SIM`` of eq. (2)."""
    D = sim_cascade(theta, h1, h_inter) - F_desired
    return jnp.sum(jnp.real(D) ** 2 + jnp.imag(D) ** 2)


def reconfiguration_distances(theta_a: Float[Array, "L N"], theta_b: Float[Array, "L N"]
                              ) -> Float[Array, " L"]:
    """``||Phi_l^a - Phi_l^b||_F^2 = sum_n (2 - 2 cos(theta_a - theta_b))`` per layer (23h)."""
    return jnp.sum(2.0 - 2.0 * jnp.cos(theta_a - theta_b), axis=-1)


def reconfiguration_residual(theta_a, theta_b, delta) -> Float[Array, ""]:
    """``sum_l [||Phi_l^a - Phi_l^b||_F^2 - delta_Phi]_+`` (0 iff (23h) holds for every layer)."""
    return jnp.sum(jnp.maximum(reconfiguration_distances(theta_a, theta_b) - delta, 0.0))


@jax.jit
def restore_reconfiguration(theta: Float[Array, "L N"], theta_ref: Float[Array, "L N"], delta
                            ) -> Float[Array, "L N"]:
    """Smallest uniform shrink of each violating layer toward ``theta_ref`` that restores (23h).

    ``theta_l(t) = theta_ref,l + t wrap(theta_l - theta_ref,l)``; ``||Phi_l(t) - Phi_l^ref||^2 =
    sum_n 2 - 2 cos(t Delta_n)`` is increasing in ``t in [0, 1]`` (``|Delta_n| <= pi``), so the
    largest admissible ``t`` is found by bisection (60 halvings: ``t`` to machine precision, the
    lower end kept, so the result is feasible). Layers that already satisfy (23h) are unchanged.
    """
    dlt = jnp.angle(jnp.exp(1j * (theta - theta_ref)))             # wrap to (-pi, pi]

    def dist(t):                                                   # t: (L,)
        return jnp.sum(2.0 - 2.0 * jnp.cos(t[:, None] * dlt), axis=-1)

    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        ok = dist(mid) <= delta
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    L = theta.shape[0]
    lo, _ = jax.lax.fori_loop(0, 60, body, (jnp.zeros(L, theta.dtype), jnp.ones(L, theta.dtype)))
    feasible = dist(jnp.ones(L, theta.dtype)) <= delta
    shrunk = theta_ref + lo[:, None] * dlt
    return jnp.where(feasible[:, None], theta, shrunk)


@functools.lru_cache(maxsize=None)
def _optimizer(kind: str, lr: float, max_backtracks: int):
    if kind == "cg":
        return mf.riemannian_cg(lr, linesearch=True, max_backtracks=max_backtracks)
    return mf.riemannian_gd(lr, linesearch=True, max_backtracks=max_backtracks)


def penalized_layer_descent(f, z0, z_ref, delta, lam, data, *, n_steps, n_sweeps, layerwise,
                            kind, lr, max_backtracks, kappa, max_rounds, lambda_max, margin):
    """Shared penalty-schedule loop of Blocks A and C (Python loop around jitted manifold solvers).

    Minimises ``g(z) = c (f(z, *data) + lam reconfiguration_penalty(z, z_ref, (1-margin) delta))``
    over the circle manifold, where ``f(z, *data)`` is a module-level (hashable) objective and
    ``c = 1 / max_n |grad_R g(z_start)|`` rescales each round so that the first line-search trial
    of step ``lr`` moves no element by more than about ``lr`` rad (Armijo decisions do not depend on
    ``c``). Rounds: run the solver (``layerwise``: ``minimize_layer`` per layer and sweep, else
    ``minimize`` on all of ``z``); stop if the residual with the *true* ``delta`` is <= 0, else
    ``lam <- min(kappa lam, lambda_max)``.

    Returns ``z, lam, rounds`` with ``rounds`` a list of dicts (``lambda_phi``, ``history``
    (unscaled penalised objective, one array per layer run), ``residual``, ``trace`` (z after each
    layer run; layer-wise only)).
    """
    opt = _optimizer(kind, lr, max_backtracks)
    g = _penalized(f)
    z = mf.retract(z0)
    rounds = []
    dpen = (1.0 - margin) * delta
    for _ in range(max_rounds):
        lam_a = jnp.asarray(lam, jnp.real(z).dtype)
        gmax = _grad_max(g)(z, z_ref, dpen, lam_a, jnp.ones((), lam_a.dtype), data)
        c = jnp.where(gmax > 0, 1.0 / jnp.where(gmax > 0, gmax, 1.0), 1.0)
        args = (z_ref, dpen, lam_a, c, data)
        hist, trace = [], []
        if layerwise:
            for _sweep in range(n_sweeps):
                for l in range(z.shape[0]):
                    z, h = mf.minimize_layer(g, z, jnp.asarray(l), opt, n_steps, args)
                    hist.append(np.asarray(h) / float(c))
                    trace.append(np.asarray(z))
        else:
            z, h = mf.minimize(g, z, opt, n_steps, args)
            hist.append(np.asarray(h) / float(c))
        res = float(reconfiguration_residual(mf.circle_to_phases(z), mf.circle_to_phases(z_ref), delta))
        rounds.append({"lambda_phi": float(lam), "history": hist, "residual": res, "trace": trace})
        if res <= 0.0:
            break
        lam = min(kappa * lam, lambda_max)
    return z, lam, rounds


@functools.lru_cache(maxsize=None)
def _grad_max(g):
    @jax.jit
    def gmax(z, *args):
        return jnp.max(jnp.abs(mf.riemannian_grad(g, z, *args)))
    return gmax


@functools.lru_cache(maxsize=None)
def _penalized(f):
    def g(z, z_ref, dpen, lam, c, data):
        return c * (f(z, *data) + lam * mf.reconfiguration_penalty(z, z_ref, dpen))
    return g


# ---- Block C objectives (module level: hashable, so the jitted solvers compile once) ----------

@functools.lru_cache(maxsize=None)
def _secrecy_objective(s: SimScenario, model: str):
    def f(z, system, design, alpha, r_max):
        S = secrecy_throughput_theta(mf.circle_to_phases(z), system, design, s, model)
        return -(1.0 - alpha) * S / r_max
    return f


@functools.lru_cache(maxsize=None)
def _fit_objective(model: str):
    def f(z, system, F_desired):
        return frobenius_fit(mf.circle_to_phases(z), F_desired, system.h1, inter_layer(system, model))
    return f


def comm_sim_block(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha,
                   norm: Normalizers, lambda_phi: float = 1.0, n_steps: int = 10,
                   n_sweeps: int = 1, mode: str = "secrecy", F_desired=None,
                   delta_phi: float | None = None, kappa: float = 5.0, max_rounds: int = 6,
                   lambda_max: float = 1e6, margin: float = 0.01, restore: bool = True,
                   lr: float = 0.5, max_backtracks: int = 40, model: str = "design"
                   ) -> tuple[SimDesign, dict]:
    """Block C: update ``theta_comm`` by layer-wise RCG on (39)/(40) (``mode="secrecy"``) or on the
    Frobenius fit (30) to ``F_desired (N, M)`` (``mode="fit"``), with the ``lambda_Phi`` schedule.

    ``n_steps``: CG steps per layer visit; ``n_sweeps``: sweeps over the layers per round;
    ``delta_phi``: per-layer tolerance of (23h) (default ``s.delta_phi``).

    ``info``: ``status`` (``"ok"`` | ``"restored"`` | ``"infeasible"``), ``lambda_phi`` (final, carry
    it), ``residual`` (``sum_l [||Phi_l^comm - Phi_l^sense||^2 - delta]_+`` of the returned point),
    ``rounds``, ``history`` (list over rounds of lists over layer runs of the penalised objective),
    ``layer_trace`` (``(n_runs + 1, L, N)`` theta_comm before/after each layer run),
    ``utility_before`` / ``utility_after`` (U on the design model), ``objective_history``
    (penalised objective at the end of each layer run, concatenated).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    delta = float(s.delta_phi if delta_phi is None else delta_phi)
    z0 = mf.phases_to_circle(design.theta_comm)
    z_ref = mf.phases_to_circle(design.theta_sense)
    rdt = jnp.real(z0).dtype
    if mode == "secrecy":
        f = _secrecy_objective(s, model)
        data = (system, design, jnp.asarray(alpha, rdt), jnp.asarray(norm.r_max, rdt))
    else:
        if F_desired is None:
            raise ValueError('mode="fit" needs F_desired (N, M)')
        f = _fit_objective(model)
        data = (system, jnp.asarray(F_desired))
    u0 = _utility(system, design, s, alpha, norm, model)
    z, lam, rounds = penalized_layer_descent(
        f, z0, z_ref, delta, float(lambda_phi), data, n_steps=n_steps, n_sweeps=n_sweeps,
        layerwise=True, kind="cg", lr=lr, max_backtracks=max_backtracks, kappa=kappa,
        max_rounds=max_rounds, lambda_max=lambda_max, margin=margin)
    theta = mf.circle_to_phases(z)
    res = float(reconfiguration_residual(theta, design.theta_sense, delta))
    status = "ok"
    if res > 0.0:
        if restore:
            theta = restore_reconfiguration(theta, design.theta_sense, delta)
            res = float(reconfiguration_residual(theta, design.theta_sense, delta))
            status = "restored"
        else:
            status = "infeasible"
    new = SimDesign(theta, design.theta_sense, design.theta_ce, design.W_RF, design.W_BB,
                    design.R_AN, design.tau, design.p_sense, design.p_comm)
    trace = [np.asarray(design.theta_comm)] + [np.angle(t) for r in rounds for t in r["trace"]]
    info = {
        "status": status,
        "lambda_phi": lam,
        "residual": res,
        "rounds": len(rounds),
        "history": [r["history"] for r in rounds],
        "objective_history": [float(h[-1]) for r in rounds for h in r["history"]],
        "layer_trace": np.stack(trace),
        "utility_before": float(u0),
        "utility_after": float(_utility(system, new, s, alpha, norm, model)),
    }
    return new, info
