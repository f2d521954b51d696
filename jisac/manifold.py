"""Complex circle manifold toolkit: gradients, retraction, Riemannian GD/CG as optax transforms.

Used by paper 004 (SIM-ISAC) L-BCD block A (projected gradient on the circle manifold for the
sensing SIM phases, Sec. III-C, constraint (35e)) and block C (layer-wise Riemannian conjugate
gradient for the communication SIM phases with the reconfiguration penalty, eqs. (30), (39), (40)).

Manifold. ``M = {z in C^n : |z_i| = 1}`` (a product of circles; any array shape, e.g. ``(L, N)`` for
the diagonals of ``Phi_1..Phi_L``), with the real inner product ``<a, b> = Re(sum conj(a) b)`` of
``C^n = R^{2n}``. Tangent space at ``z``: ``{v : Re(v conj(z)) = 0}`` elementwise, i.e. ``v = j z t``
with ``t`` real. Orthogonal projection ``P_z(g) = g - Re(g conj(z)) z``; retraction
``R(z) = z / |z|`` (elementwise); vector transport by projection ``T_{z'}(v) = P_{z'}(v)``.

Complex-gradient convention (stated once, STYLE.md #9). For a real ``f(z)``, ``z = x + j y``, the
steepest-ascent direction in ``C^n = R^{2n}`` is::

    grad_E f = df/dx + j df/dy = 2 df/dz*          (Wirtinger; what e.g. paper 004's RCG uses)

and first order ``f(z + dz) = f(z) + <grad_E f, dz> = f(z) + Re(sum conj(grad_E f) dz)``.
``jax.grad(f)(z)`` returns the *conjugate*, ``df/dx - j df/dy = 2 df/dz``: checked, for
``f = |z|^2`` ``jax.grad`` gives ``2 conj(z)`` while ``grad_E f = 2 z`` (cf. optax
``optax/contrib/_complex_valued.py``: "we need to manually conjugate the gradients between
``jax.grad`` and ``optimizer.update``"). :func:`euclidean_grad` does that conjugation, and it is the
only place in jisac that does. The optax transforms below take the *raw* ``jax.grad`` output as
their ``updates`` (the usual optax call pattern) and conjugate it internally.

Riemannian gradient: ``grad_R f(z) = P_z(grad_E f(z))``. With phases ``z = exp(j theta)``,
``d f(exp(j theta)) / d theta = Im(grad_E f conj(z))`` and ``grad_R f = j z * d f / d theta``.

Optimisers (paper 004 Sec. III-C/E) follow the optax ``init``/``update`` pattern (STYLE.md #6).
``update(jax_grad, state, params, value=..., value_fn=...)`` returns ``updates`` with
``params + updates = R(params + t d)``: the direction ``d`` is ``-grad_R`` (GD) or the CG direction,
the step ``t`` a fixed learning rate / schedule or an Armijo backtracking step (which needs the
``value_fn`` extra argument, as optax's ``scale_by_backtracking_linesearch``). The manifold
transform must be the *last* link of an ``optax.chain`` (anything after it leaves the manifold);
links before it act on the raw ``jax.grad``.

Drivers (one jitted entry each, ``lax.scan`` inside, STYLE.md #2/#4): :func:`minimize` (on M),
:func:`minimize_layer` / :func:`minimize_layerwise` (block C: one layer at a time, others fixed),
:func:`minimize_phases` (plain optax optimiser over real phases ``theta``, the baseline).
Objectives have the signature ``f(z, *args) -> real scalar``; ``args`` are traced, so new data
(e.g. a new target ``F``) does not recompile. Batch with ``jax.vmap`` over ``z0`` and ``args``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Complex, Float, Int, PyTree

__all__ = [
    "euclidean_grad",
    "value_and_euclidean_grad",
    "project_tangent",
    "retract",
    "transport",
    "riemannian_grad",
    "value_and_riemannian_grad",
    "phases_to_circle",
    "circle_to_phases",
    "inner",
    "reconfiguration_penalty",
    "CircleOptState",
    "riemannian_gd",
    "riemannian_cg",
    "minimize",
    "minimize_layer",
    "minimize_layerwise",
    "minimize_phases",
]

Objective = Callable[..., Float[Array, ""]]


# ----------------------------------------------------------------------------------------------
# Gradients and manifold geometry
# ----------------------------------------------------------------------------------------------


def euclidean_grad(f: Objective, z: Complex[Array, "..."], *args) -> Complex[Array, "..."]:
    """Steepest-ascent direction ``df/dx + j df/dy = 2 df/dz*`` of a real ``f`` at complex ``z``.

    ``= conj(jax.grad(f)(z, *args))`` (see the module docstring for the convention).
    """
    return jnp.conj(jax.grad(f)(z, *args))


def value_and_euclidean_grad(f: Objective, z: Complex[Array, "..."], *args):
    """``(f(z), euclidean_grad(f, z))`` in one pass."""
    v, g = jax.value_and_grad(f)(z, *args)
    return v, jnp.conj(g)


def project_tangent(z: Complex[Array, "..."], g: Complex[Array, "..."]) -> Complex[Array, "..."]:
    """Orthogonal projection onto ``T_z M``: ``P_z(g) = g - Re(g conj(z)) z`` (needs ``|z| = 1``)."""
    return g - jnp.real(g * jnp.conj(z)) * z


def transport(z_new: Complex[Array, "..."], v: Complex[Array, "..."]) -> Complex[Array, "..."]:
    """Vector transport by projection, ``T_{z_new}(v) = P_{z_new}(v)`` (used by Riemannian CG)."""
    return project_tangent(z_new, v)


def retract(z: Complex[Array, "..."]) -> Complex[Array, "..."]:
    """Retraction ``z / |z|`` elementwise; entries with ``z = 0`` map to ``1`` with zero gradient.

    ``|z|`` is formed as ``sqrt`` of a masked ``x^2 + y^2`` (jax-md ``safe_mask`` idea), so neither
    the value nor the gradient is NaN at ``z = 0``.
    """
    r2 = jnp.real(z) ** 2 + jnp.imag(z) ** 2
    ok = r2 > 0
    r = jnp.sqrt(jnp.where(ok, r2, 1.0))
    return jnp.where(ok, z / r, jnp.ones_like(z))


def riemannian_grad(f: Objective, z: Complex[Array, "..."], *args) -> Complex[Array, "..."]:
    """``grad_R f(z) = P_z(2 df/dz*)``, the Riemannian gradient on the circle manifold at ``z``."""
    return project_tangent(z, euclidean_grad(f, z, *args))


def value_and_riemannian_grad(f: Objective, z: Complex[Array, "..."], *args):
    """``(f(z), riemannian_grad(f, z))`` in one pass."""
    v, g = value_and_euclidean_grad(f, z, *args)
    return v, project_tangent(z, g)


def phases_to_circle(theta: Float[Array, "..."]) -> Complex[Array, "..."]:
    """``exp(j theta)`` (paper 004 eq. (4): ``[Phi_l]_{nn} = exp(j theta_l^(n))``)."""
    return jnp.exp(1j * theta)


def circle_to_phases(z: Complex[Array, "..."]) -> Float[Array, "..."]:
    """``arg z`` in ``(-pi, pi]``; NaN-safe (``arg 0 := 0`` with zero gradient)."""
    r2 = jnp.real(z) ** 2 + jnp.imag(z) ** 2
    ok = r2 > 0
    zs = jnp.where(ok, z, jnp.ones_like(z))
    return jnp.where(ok, jnp.angle(zs), 0.0)


def inner(a: PyTree, b: PyTree) -> Float[Array, ""]:
    """Real inner product ``Re(sum conj(a) b)`` summed over all leaves of two matching pytrees."""
    parts = jax.tree_util.tree_map(lambda x, y: jnp.sum(jnp.real(jnp.conj(x) * y)), a, b)
    return sum(jax.tree_util.tree_leaves(parts))


def reconfiguration_penalty(
    z: Complex[Array, "L N"], z_ref: Complex[Array, "L N"], delta: Float[Array, ""]
) -> Float[Array, ""]:
    """``sum_l [||Phi_l - Phi_l^ref||_F^2 - delta]_+`` (paper 004 eqs. (30), (39a), (40)).

    ``Phi_l = diag(z_l)``, so ``||Phi_l - Phi_l^ref||_F^2 = sum_n |z_ln - z_ref_ln|^2`` (formed as
    ``x^2 + y^2``: smooth everywhere). ``delta`` is the per-layer tolerance ``delta_Phi``.
    """
    d = z - z_ref
    dist2 = jnp.sum(jnp.real(d) ** 2 + jnp.imag(d) ** 2, axis=-1)
    return jnp.sum(jnp.maximum(dist2 - delta, 0.0))


# ----------------------------------------------------------------------------------------------
# Optax transforms
# ----------------------------------------------------------------------------------------------


class CircleOptState(NamedTuple):
    """State of :func:`riemannian_gd` / :func:`riemannian_cg`.

    ``stepsize``: last step tried (the next Armijo search starts from ``increase_factor`` times
    it). ``prev_grad`` / ``prev_dir``: Riemannian gradient and search direction at the previous
    iterate (zeros before the first step; unused by GD).
    """

    count: Int[Array, ""]
    stepsize: Float[Array, ""]
    prev_grad: PyTree
    prev_dir: PyTree


_BETAS = ("none", "polak_ribiere", "fletcher_reeves")


def _safe_div(num, den):
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def _tmap(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _circle_transform(
    learning_rate,
    beta: str,
    restart_every: int | None,
    linesearch: bool,
    max_backtracks: int,
    armijo_c: float,
    decrease_factor: float,
    increase_factor: float,
    max_stepsize: float | None,
) -> optax.GradientTransformationExtraArgs:
    if beta not in _BETAS:
        raise ValueError(f"beta must be one of {_BETAS}, got {beta!r}")
    if restart_every is not None and restart_every < 1:
        raise ValueError(f"restart_every must be >= 1 or None, got {restart_every}")
    if linesearch and callable(learning_rate):
        raise ValueError("with linesearch=True, learning_rate is the initial step: give a float")

    def init_fn(params):
        zeros = _tmap(jnp.zeros_like, params)
        lr0 = learning_rate(0) if callable(learning_rate) else learning_rate
        real = jnp.real(jax.tree_util.tree_leaves(params)[0]).dtype
        return CircleOptState(
            count=jnp.zeros((), jnp.int32),
            stepsize=jnp.asarray(lr0, real),
            prev_grad=zeros,
            prev_dir=zeros,
        )

    def update_fn(updates, state, params=None, *, value=None, value_fn=None, **extra):
        del extra
        if params is None:
            raise ValueError("the circle-manifold transforms need params (the current iterate)")
        # raw jax.grad -> steepest ascent 2 df/dz* -> tangent (Riemannian gradient)
        xi = _tmap(lambda z, g: project_tangent(z, jnp.conj(g)), params, updates)
        xi2 = inner(xi, xi)

        if beta == "none":
            b = jnp.zeros_like(xi2)
        else:
            old_g = _tmap(transport, params, state.prev_grad)
            old_d = _tmap(transport, params, state.prev_dir)
            den = inner(state.prev_grad, state.prev_grad)
            if beta == "polak_ribiere":  # PR+: max(0, .) restarts on a negative beta
                num = xi2 - inner(xi, old_g)
                b = jnp.maximum(_safe_div(num, den), 0.0)
            else:
                b = _safe_div(xi2, den)
            if restart_every is not None:
                b = jnp.where(state.count % restart_every == 0, 0.0, b)
        d = _tmap(lambda g, od: -g + b * od, xi, old_d) if beta != "none" else _tmap(jnp.negative, xi)
        slope = inner(xi, d)  # = <grad_E f, d>: directional derivative along d
        # restart on a non-descent direction (FR, or PR with inexact steps)
        bad = slope >= 0
        d = _tmap(lambda dd, g: jnp.where(bad, -g, dd), d, xi)
        slope = jnp.where(bad, -xi2, slope)

        def trial(t):
            return _tmap(lambda z, dd: retract(z + t * dd), params, d)

        if linesearch:
            if value_fn is None:
                raise ValueError("linesearch=True needs the extra argument value_fn=f (and value=f(z))")
            f0 = value_fn(params) if value is None else value
            t0 = state.stepsize * increase_factor
            if max_stepsize is not None:
                t0 = jnp.minimum(t0, max_stepsize)

            def armijo_ok(t, ft):
                return ft <= f0 + armijo_c * t * slope

            def cond(c):
                k, t, ft = c
                return (k < max_backtracks) & ~armijo_ok(t, ft)

            def body(c):
                k, t, _ = c
                t = t * decrease_factor
                return k + 1, t, value_fn(trial(t))

            _, t, ft = lax.while_loop(cond, body, (0, t0, value_fn(trial(t0))))
            # no admissible step: stay put (keeps the objective history monotone)
            t_used = jnp.where(armijo_ok(t, ft), t, 0.0)
            new_stepsize = t
        else:
            t_used = learning_rate(state.count) if callable(learning_rate) else learning_rate
            new_stepsize = jnp.asarray(t_used, state.stepsize.dtype)

        z_new = trial(t_used)
        out = _tmap(lambda zn, z: zn - z, z_new, params)
        new_state = CircleOptState(
            count=state.count + 1,
            stepsize=jnp.asarray(new_stepsize, state.stepsize.dtype),
            prev_grad=xi,
            prev_dir=d,
        )
        return out, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def riemannian_gd(
    learning_rate: float | optax.Schedule = 0.1,
    *,
    linesearch: bool = False,
    max_backtracks: int = 30,
    armijo_c: float = 1e-4,
    decrease_factor: float = 0.5,
    increase_factor: float = 2.0,
    max_stepsize: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Projected (Riemannian) gradient descent on the circle manifold (paper 004 block A, (35e)).

    ``z+ = R(z - t grad_R f(z))``. ``t``: ``learning_rate`` (float or optax schedule), or with
    ``linesearch=True`` Armijo backtracking ``f(R(z + t d)) <= f(z) + armijo_c t <grad_E f, d>``,
    starting from ``increase_factor`` times the previous step (first: ``learning_rate``), shrinking
    by ``decrease_factor`` at most ``max_backtracks`` times; if none passes, ``t = 0``. Line search
    needs ``update(..., value=f(z), value_fn=f)`` (the drivers pass them).
    """
    return _circle_transform(
        learning_rate, "none", None, linesearch, max_backtracks, armijo_c, decrease_factor,
        increase_factor, max_stepsize,
    )


def riemannian_cg(
    learning_rate: float | optax.Schedule = 0.1,
    *,
    beta: str = "polak_ribiere",
    restart_every: int | None = None,
    linesearch: bool = True,
    max_backtracks: int = 30,
    armijo_c: float = 1e-4,
    decrease_factor: float = 0.5,
    increase_factor: float = 2.0,
    max_stepsize: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Riemannian conjugate gradient on the circle manifold (paper 004 block C, eqs. (39)-(40)).

    ``xi_k = grad_R f(z_k)``, ``d_k = -xi_k + beta_k T_{z_k}(d_{k-1})``, ``z_{k+1} = R(z_k + t_k d_k)``
    with ``beta = "polak_ribiere"`` (PR+: ``max(0, <xi_k, xi_k - T(xi_{k-1})> / |xi_{k-1}|^2)``),
    ``"fletcher_reeves"`` (``|xi_k|^2 / |xi_{k-1}|^2``) or ``"none"`` (= GD). Restarts
    (``d_k = -xi_k``) when ``d_k`` is not a descent direction and every ``restart_every`` steps.
    Step ``t_k`` as in :func:`riemannian_gd`; line search is on by default.
    """
    return _circle_transform(
        learning_rate, beta, restart_every, linesearch, max_backtracks, armijo_c,
        decrease_factor, increase_factor, max_stepsize,
    )


# ----------------------------------------------------------------------------------------------
# Drivers
# ----------------------------------------------------------------------------------------------


def _run(fz, x0, optimizer, n_steps: int, on_circle: bool):
    """``n_steps`` optimiser steps in a ``lax.scan``; history ``[f(x_0), ..., f(x_n)]``."""
    opt = optax.with_extra_args_support(optimizer)
    if on_circle:
        x0 = _tmap(retract, x0)
    state = opt.init(x0)

    def step(carry, _):
        x, s = carry
        val, g = jax.value_and_grad(fz)(x)
        upd, s = opt.update(g, s, x, value=val, value_fn=fz)
        x = optax.apply_updates(x, upd)
        if on_circle:  # re-normalise: removes round-off drift of z + (R(z + t d) - z)
            x = _tmap(retract, x)
        return (x, s), val

    (x, _), hist = lax.scan(step, (x0, state), None, length=n_steps)
    return x, jnp.concatenate([hist, fz(x)[None]])


@partial(jax.jit, static_argnames=("f", "optimizer", "n_steps"))
def minimize(
    f: Objective,
    z0: Complex[Array, "..."],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    args: tuple = (),
) -> tuple[Complex[Array, "..."], Float[Array, " n_steps+1"]]:
    """Minimise ``f(z, *args)`` over the circle manifold from ``z0`` (retracted first).

    ``optimizer``: usually :func:`riemannian_gd` / :func:`riemannian_cg` (or a chain ending in one);
    it is a static argument, so build it once and reuse it. Returns ``(z, history)`` with
    ``history[k] = f(z_k)``, ``k = 0..n_steps``.
    """
    return _run(lambda z: f(z, *args), z0, optimizer, n_steps, on_circle=True)


def _layer_objective(f, l, args):
    def fl(zl, z_full):
        return f(lax.dynamic_update_index_in_dim(z_full, zl, l, 0), *args)

    return fl


def _minimize_layer(f, z, l, optimizer, n_steps, args):
    fl = _layer_objective(f, l, args)
    zl0 = lax.dynamic_index_in_dim(z, l, 0, keepdims=False)
    zl, hist = _run(lambda v: fl(v, z), zl0, optimizer, n_steps, on_circle=True)
    return lax.dynamic_update_index_in_dim(z, zl, l, 0), hist


@partial(jax.jit, static_argnames=("f", "optimizer", "n_steps"))
def minimize_layer(
    f: Objective,
    z: Complex[Array, "L N"],
    layer: Int[Array, ""],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    args: tuple = (),
) -> tuple[Complex[Array, "L N"], Float[Array, " n_steps+1"]]:
    """Minimise ``f(z, *args)`` over layer ``z[layer]`` only, the other layers fixed (eq. (40)).

    ``layer`` may be traced. Rows other than ``layer`` are returned bit-identical; the active row is
    retracted onto the circle first. The optimiser state starts fresh (a CG restart).
    """
    return _minimize_layer(f, z, layer, optimizer, n_steps, args)


@partial(jax.jit, static_argnames=("f", "optimizer", "n_steps", "n_sweeps"))
def minimize_layerwise(
    f: Objective,
    z0: Complex[Array, "L N"],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    n_sweeps: int = 1,
    args: tuple = (),
) -> tuple[Complex[Array, "L N"], Float[Array, "n_sweeps L n_steps+1"]]:
    """Block C's layer-wise scheme (paper 004 eq. (40)): sweep ``l = 1..L``, each layer by
    ``n_steps`` optimiser steps with the others fixed; ``n_sweeps`` sweeps (a ``lax.scan``).

    History ``[s, l, k]``: objective after ``k`` steps on layer ``l`` in sweep ``s``.
    """
    n_layers = z0.shape[0]
    layers = jnp.tile(jnp.arange(n_layers), n_sweeps)

    def body(z, l):
        return _minimize_layer(f, z, l, optimizer, n_steps, args)

    z, hist = lax.scan(body, z0, layers)
    return z, hist.reshape(n_sweeps, n_layers, n_steps + 1)


@partial(jax.jit, static_argnames=("f", "optimizer", "n_steps"))
def minimize_phases(
    f: Objective,
    theta0: Float[Array, "..."],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    args: tuple = (),
) -> tuple[Float[Array, "..."], Float[Array, " n_steps+1"]]:
    """Baseline: minimise ``f(exp(j theta), *args)`` over real phases with any optax optimiser.

    ``d f / d theta = Im(grad_E f conj(z))`` (real, so no conjugation issue). Returns
    ``(theta, history)``; phases are not wrapped.
    """
    return _run(lambda th: f(phases_to_circle(th), *args), theta0, optimizer, n_steps, on_circle=False)
