"""Tests of jisac.manifold against finite differences, closed forms and a NumPy reference RCG.

Tolerances (x64):
* central finite differences with step h = 1e-6: truncation ~h^2 |f'''| ~ 1e-12 and round-off
  ~eps |f| / h ~ 1e-10 |f|, so 1e-7 relative to the gradient scale leaves > 100x margin;
* "monotone" histories: the drivers rebuild z_{k+1} = R(z_k + (R(z_k + t d) - z_k)), which differs
  from the point the Armijo test accepted by a few ulps, so f may move by ~eps |f| per step once the
  true decrease is below round-off; we allow 64 eps |f| per step and no more;
* optimum checks: after convergence the error is at round-off, 1e-9 relative leaves a wide margin
  while any non-converged run (errors >= 1e-6 at the step counts used) fails.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jisac import manifold as mf

EPS = np.finfo(np.float64).eps


def _rand_c(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def _rand_circle(rng, *shape):
    return np.exp(1j * rng.uniform(0, 2 * np.pi, size=shape))


def _assert_monotone(hist):
    h = np.asarray(hist)
    slack = 64 * EPS * np.maximum(np.abs(h[:-1]), 1.0)
    assert np.all(np.diff(h) <= slack), np.max(np.diff(h) - slack)


# objective with non-holomorphic terms: ||A z - b||^2 + sum Re(c z^2) + sum |z|^4 / 4
def _f_test(z, A, b, c):
    r = A @ z - b
    return (
        jnp.sum(jnp.real(r) ** 2 + jnp.imag(r) ** 2)
        + jnp.sum(jnp.real(c * z**2))
        + 0.25 * jnp.sum((jnp.real(z) ** 2 + jnp.imag(z) ** 2) ** 2)
    )


def _f_align(z, a):
    """-|a^H z|^2; minimum over the circle manifold -(sum |a_i|)^2 at z = e^{j arg a} e^{j phi}."""
    s = jnp.vdot(a, z)
    return -(jnp.real(s) ** 2 + jnp.imag(s) ** 2)


# ----------------------------------------------------------------------------------------------
# convention and geometry


def test_jax_convention_and_euclidean_grad_on_abs2():
    z = jnp.array([1.0 + 2.0j, -0.5 + 0.25j])
    f = lambda z: jnp.sum(jnp.abs(z) ** 2)
    # what JAX returns (documented in the module): df/dx - j df/dy = 2 conj(z)
    np.testing.assert_array_equal(jax.grad(f)(z), 2 * jnp.conj(z))
    # steepest ascent 2 df/dz* = 2 z
    np.testing.assert_array_equal(mf.euclidean_grad(f, z), 2 * z)


def test_euclidean_grad_matches_finite_differences(rng):
    n = 5
    A, b, c = _rand_c(rng, 4, n), _rand_c(rng, 4), _rand_c(rng, n)
    z = _rand_c(rng, n)
    f = jax.jit(lambda z: _f_test(z, A, b, c))
    g = np.asarray(mf.euclidean_grad(_f_test, jnp.asarray(z), A, b, c))
    h = 1e-6
    fd = np.zeros(n, complex)
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        dfdx = (float(f(z + h * e)) - float(f(z - h * e))) / (2 * h)
        dfdy = (float(f(z + 1j * h * e)) - float(f(z - 1j * h * e))) / (2 * h)
        fd[k] = dfdx + 1j * dfdy
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-7 * np.max(np.abs(fd)))
    v, g2 = mf.value_and_euclidean_grad(_f_test, jnp.asarray(z), A, b, c)
    np.testing.assert_allclose(g2, g, rtol=1e-14)
    np.testing.assert_allclose(v, f(z), rtol=1e-14)


def test_retract_unit_modulus_and_nan_safe(rng):
    z = _rand_c(rng, 3, 7) * rng.uniform(0.01, 10, size=(3, 7))
    z[1, 2] = 0.0
    retract = jax.jit(mf.retract)  # one compile instead of op-by-op dispatch
    r = np.asarray(retract(jnp.asarray(z)))
    np.testing.assert_allclose(np.abs(r), 1.0, rtol=0, atol=4 * EPS)
    mask = z != 0
    np.testing.assert_allclose(np.angle(r[mask]), np.angle(z[mask]), rtol=0, atol=8 * EPS)
    assert r[1, 2] == 1.0
    np.testing.assert_allclose(retract(jnp.asarray(r)), r, rtol=0, atol=4 * EPS)
    g = jax.jit(jax.grad(lambda z: jnp.sum(jnp.real(mf.retract(z)) + jnp.imag(mf.retract(z)))))(z)
    assert np.all(np.isfinite(np.asarray(g)))
    assert g[1, 2] == 0.0
    # phases round trip and arg(0) NaN-safe
    th = rng.uniform(-np.pi + 0.1, np.pi - 0.1, size=6)
    rt = jax.jit(lambda t: mf.circle_to_phases(mf.phases_to_circle(t)))
    np.testing.assert_allclose(rt(th), th, atol=8 * EPS)
    gz = jax.jit(jax.grad(lambda z: jnp.sum(mf.circle_to_phases(z))))(jnp.zeros(3, complex))
    assert np.all(np.isfinite(np.asarray(gz)))


def test_riemannian_grad_is_tangent_and_matches_fd_along_curves(rng):
    n = 6
    A, b, c = _rand_c(rng, 4, n), _rand_c(rng, 4), _rand_c(rng, n)
    z = _rand_circle(rng, n)
    rg = np.asarray(mf.riemannian_grad(_f_test, jnp.asarray(z), A, b, c))
    np.testing.assert_allclose(np.real(rg * np.conj(z)), 0.0, atol=1e-13 * np.max(np.abs(rg)))
    fj = jax.jit(lambda z: _f_test(z, A, b, c))
    f = lambda z: float(fj(jnp.asarray(z)))
    h = 1e-6
    for _ in range(3):
        delta = rng.normal(size=n)  # tangent curve z e^{j t delta}, velocity j z delta
        fd = (f(z * np.exp(1j * h * delta)) - f(z * np.exp(-1j * h * delta))) / (2 * h)
        an = np.sum(np.real(np.conj(rg) * (1j * z * delta)))
        np.testing.assert_allclose(an, fd, rtol=0, atol=1e-7 * np.linalg.norm(rg) * np.linalg.norm(delta))
    # projection: idempotent, kills normal directions, and transport = projection
    g = _rand_c(rng, n)
    p = mf.project_tangent(z, g)
    np.testing.assert_allclose(mf.project_tangent(z, p), p, atol=1e-14)
    np.testing.assert_allclose(mf.project_tangent(z, 2.5 * z), 0.0, atol=1e-14)
    np.testing.assert_allclose(mf.transport(z, g), p, atol=0)


def test_phase_gradient_identity(rng):
    n = 5
    A, b, c = _rand_c(rng, 3, n), _rand_c(rng, 3), _rand_c(rng, n)
    th = jnp.asarray(rng.uniform(0, 2 * np.pi, n))
    z = mf.phases_to_circle(th)
    g_th = jax.grad(lambda t: _f_test(mf.phases_to_circle(t), A, b, c))(th)
    _, eg = mf.value_and_euclidean_grad(_f_test, z, A, b, c)
    np.testing.assert_allclose(g_th, np.imag(eg * np.conj(z)), rtol=1e-12)
    _, rg = mf.value_and_riemannian_grad(_f_test, z, A, b, c)
    np.testing.assert_allclose(rg, 1j * z * g_th, rtol=1e-12)


def test_reconfiguration_penalty_against_loop(rng):
    z, zr = _rand_circle(rng, 3, 5), _rand_circle(rng, 3, 5)
    dist = [np.linalg.norm(np.diag(z[l]) - np.diag(zr[l]), "fro") ** 2 for l in range(3)]
    delta = float(np.median(dist))  # one layer above the tolerance, one below: both branches of [.]_+
    ref = sum(max(d - delta, 0.0) for d in dist)
    assert min(dist) < delta < max(dist) and ref > 0
    np.testing.assert_allclose(mf.reconfiguration_penalty(z, zr, delta), ref, rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# optimisers


@pytest.mark.parametrize(
    "opt,n_steps",
    [
        (mf.riemannian_gd(0.01, linesearch=True), 150),
        (mf.riemannian_cg(0.01, beta="polak_ribiere"), 80),
        (mf.riemannian_cg(0.01, beta="fletcher_reeves", restart_every=8), 150),
    ],
    ids=["gd-armijo", "cg-pr", "cg-fr-restart"],
)
def test_align_closed_form_optimum(rng, opt, n_steps):
    n = 8
    a = jnp.asarray(_rand_c(rng, n))
    z0 = jnp.asarray(_rand_circle(rng, n))
    z, hist = mf.minimize(_f_align, z0, opt, n_steps, (a,))
    _assert_monotone(hist)
    best = float(jnp.sum(jnp.abs(a))) ** 2
    np.testing.assert_allclose(-hist[-1], best, rtol=1e-9)
    np.testing.assert_allclose(np.abs(z), 1.0, atol=4 * EPS)
    # z = e^{j arg a} up to one global phase
    rel = np.asarray(z) * np.exp(-1j * np.angle(np.asarray(a)))
    np.testing.assert_allclose(rel / rel[0], 1.0, atol=1e-4)


def test_cg_beats_gd_at_equal_steps(rng):
    n = 16
    a = jnp.asarray(_rand_c(rng, n))
    z0 = jnp.asarray(_rand_circle(rng, n))
    best = float(jnp.sum(jnp.abs(a))) ** 2
    _, h_gd = mf.minimize(_f_align, z0, mf.riemannian_gd(0.01, linesearch=True), 25, (a,))
    _, h_cg = mf.minimize(_f_align, z0, mf.riemannian_cg(0.01), 25, (a,))
    assert best + h_cg[-1] < best + h_gd[-1]


def _np_rcg_fixed(z, grad_e, t, n_steps):
    """NumPy reference of Riemannian CG (PR+, projection transport, descent restart), fixed step."""
    proj = lambda z, g: g - np.real(g * np.conj(z)) * z
    ip = lambda a, b: np.sum(np.real(np.conj(a) * b))
    xi_old = np.zeros_like(z)
    d_old = np.zeros_like(z)
    for _ in range(n_steps):
        xi = proj(z, grad_e(z))
        den = ip(xi_old, xi_old)
        beta = max((ip(xi, xi) - ip(xi, proj(z, xi_old))) / den, 0.0) if den > 0 else 0.0
        d = -xi + beta * proj(z, d_old)
        if ip(xi, d) >= 0:
            d = -xi
        w = z + t * d
        z, xi_old, d_old = w / np.abs(w), xi, d
    return z


def test_cg_fixed_step_matches_numpy_reference(rng):
    n = 6
    A, b = _rand_c(rng, 9, n), _rand_c(rng, 9)
    f = lambda z, A, b: jnp.sum(jnp.abs(A @ z - b) ** 2)
    z0 = _rand_circle(rng, n)
    t = 0.01
    z, _ = mf.minimize(f, jnp.asarray(z0), mf.riemannian_cg(t, linesearch=False), 6, (A, b))
    z_ref = _np_rcg_fixed(z0, lambda z: 2 * A.conj().T @ (A @ z - b), t, 6)
    np.testing.assert_allclose(z, z_ref, atol=1e-13)
    # GD = CG with beta = 0; schedules are accepted as learning rates
    zg, _ = mf.minimize(f, jnp.asarray(z0), mf.riemannian_gd(optax.constant_schedule(t)), 3, (A, b))
    zr = z0
    for _ in range(3):
        g = 2 * A.conj().T @ (A @ zr - b)
        w = zr - t * (g - np.real(g * np.conj(zr)) * zr)
        zr = w / np.abs(w)
    np.testing.assert_allclose(zg, zr, atol=1e-13)


def test_composes_with_optax_chain(rng):
    n = 6
    a = jnp.asarray(_rand_c(rng, n))
    z0 = jnp.asarray(_rand_circle(rng, n))
    # scaling the raw gradient by 2 before a fixed-step GD == doubling the step
    chained = optax.chain(optax.scale(2.0), mf.riemannian_gd(0.005))
    z1, h1 = mf.minimize(_f_align, z0, chained, 7, (a,))
    z2, h2 = mf.minimize(_f_align, z0, mf.riemannian_gd(0.01), 7, (a,))
    np.testing.assert_allclose(z1, z2, atol=1e-13)
    np.testing.assert_allclose(h1, h2, rtol=1e-13)
    # extra args (value, value_fn) reach a line-searching CG through the chain
    z3, _ = mf.minimize(_f_align, z0, optax.chain(optax.identity(), mf.riemannian_cg(0.01)), 10, (a,))
    z4, _ = mf.minimize(_f_align, z0, mf.riemannian_cg(0.01), 10, (a,))
    np.testing.assert_allclose(z3, z4, atol=1e-13)


def test_linesearch_without_value_fn_raises():
    opt = mf.riemannian_cg(0.1)
    z = jnp.ones(3, complex)
    with pytest.raises(ValueError, match="value_fn"):
        opt.update(jnp.ones(3, complex), opt.init(z), z)
    with pytest.raises(ValueError, match="beta"):
        mf.riemannian_cg(beta="hestenes")


def test_vmap_batch_matches_loop(rng):
    n, B = 5, 3
    a = jnp.asarray(_rand_c(rng, B, n))
    z0 = jnp.asarray(_rand_circle(rng, B, n))
    opt = mf.riemannian_cg(0.01)
    zb, hb = jax.vmap(lambda z, a: mf.minimize(_f_align, z, opt, 20, (a,)))(z0, a)
    for i in range(B):
        zi, hi = mf.minimize(_f_align, z0[i], opt, 20, (a[i],))
        np.testing.assert_allclose(zb[i], zi, atol=1e-12)
        np.testing.assert_allclose(hb[i], hi, rtol=1e-12)


def test_minimize_phases_baseline_reaches_optimum(rng):
    n = 6
    a = jnp.asarray(_rand_c(rng, n))
    th0 = jnp.asarray(rng.uniform(0, 2 * np.pi, n))
    th, hist = mf.minimize_phases(_f_align, th0, optax.adam(0.05), 400, (a,))
    best = float(jnp.sum(jnp.abs(a))) ** 2
    np.testing.assert_allclose(-hist[-1], best, rtol=1e-9)
    np.testing.assert_allclose(hist[-1], _f_align(mf.phases_to_circle(th), a), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# SIM-shaped problems (paper 004 eqs. (2), (30), (40))


def _cascade(z, h1, h_inter):
    """G = D_L H^(L) ... D_2 H^(2) D_1 H^(1), D_l = diag(z_l); z: (L, N), h_inter: (L-1, N, N)."""
    g = z[0][:, None] * h1
    for l in range(1, z.shape[0]):
        g = z[l][:, None] * (h_inter[l - 1] @ g)
    return g


def _frob_fit(z, h1, h_inter, F):
    e = _cascade(z, h1, h_inter) - F
    return jnp.sum(jnp.real(e) ** 2 + jnp.imag(e) ** 2)


def test_one_layer_sim_fit_recovers_diagonal_target(rng):
    N, M = 10, 4
    h1 = _rand_c(rng, N, M)
    z_star = _rand_circle(rng, 1, N)
    F = z_star[0][:, None] * h1  # reachable: G(z_star) = F exactly
    h_inter = np.zeros((0, N, N), complex)
    z0 = jnp.asarray(_rand_circle(rng, 1, N))
    z, hist = mf.minimize(_frob_fit, z0, mf.riemannian_cg(0.01), 120, (h1, h_inter, F))
    _assert_monotone(hist)
    assert hist[-1] < 1e-20 * hist[0]
    np.testing.assert_allclose(z, z_star, atol=1e-9)


def test_layerwise_changes_only_active_layer(rng):
    L, N, M = 3, 6, 3
    h1, h_inter = _rand_c(rng, N, M), _rand_c(rng, L - 1, N, N) / np.sqrt(N)
    F = _rand_c(rng, N, M)
    z_ref = _rand_circle(rng, L, N)
    lam, delta = 0.5, 1.0

    def f(z, h1, h_inter, F, z_ref):  # eq. (30): fit + lambda * reconfiguration penalty
        return _frob_fit(z, h1, h_inter, F) + lam * mf.reconfiguration_penalty(z, z_ref, delta)

    args = (h1, h_inter, F, z_ref)
    z0 = jnp.asarray(_rand_circle(rng, L, N))
    opt = mf.riemannian_cg(0.01)
    z1, h = mf.minimize_layer(f, z0, 1, opt, 15, args)
    np.testing.assert_array_equal(z1[0], z0[0])
    np.testing.assert_array_equal(z1[2], z0[2])
    assert np.max(np.abs(z1[1] - z0[1])) > 1e-3
    _assert_monotone(h)
    assert h[-1] < h[0]
    np.testing.assert_allclose(h[0], f(z0, *args), rtol=1e-14)

    # a sweep equals the sequence of single-layer solves, layer 1, 2, ..., L
    zs, hs = mf.minimize_layerwise(f, z0, opt, 15, n_sweeps=2, args=args)
    assert hs.shape == (2, L, 16)
    zr = z0
    for s in range(2):
        for l in range(L):
            zr, hr = mf.minimize_layer(f, zr, l, opt, 15, args)
            np.testing.assert_allclose(hs[s, l], hr, rtol=1e-12)
    np.testing.assert_allclose(zs, zr, atol=1e-12)
    flat = np.asarray(hs).reshape(-1)
    _assert_monotone(flat)  # each layer starts where the previous one stopped
    np.testing.assert_allclose(np.abs(zs), 1.0, atol=4 * EPS)
