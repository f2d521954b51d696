"""Tests for jisac.convex.embedding (complex Hermitian SDP -> real SDP).

References: NumPy identities written out in the test, plain complex cvxpy on the same SDP
(Clarabel), and finite differences for a CvxpyLayer gradient.
"""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.convex.embedding import (
    complex_from_embedded_vector,
    complex_lmi,
    embed_complex_matrix,
    embed_complex_vector,
    embedded_blocks,
    hermitian_from_embedded,
    hermitian_from_layer,
    hermitian_variable,
    real_trace_product,
)

SOLVER = "CLARABEL"
OPTS = {"tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7}  # 100x below RTOL
RTOL = 1e-5


def _solve(prob):
    prob.solve(solver=SOLVER, **OPTS)
    assert prob.status == "optimal", prob.status
    return prob.value


def crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def herm(rng, n):
    A = crandn(rng, n, n)
    return A + A.conj().T


def test_numeric_identities(rng):
    n = 5
    M, G = herm(rng, n), herm(rng, n)
    C = crandn(rng, n, n)  # non-Hermitian
    v = crandn(rng, n)
    M_r, G_r, C_r = (embed_complex_matrix(X) for X in (M, G, C))
    v_r = embed_complex_vector(v)
    # structure, and NumPy / JAX / (re, im)-pair inputs agree
    assert np.array_equal(M_r[:n, :n], M.real) and np.array_equal(M_r[n:, :n], M.imag)
    assert np.array_equal(M_r[:n, n:], -M.imag) and np.array_equal(M_r[n:, n:], M.real)
    np.testing.assert_array_equal(np.asarray(embed_complex_matrix(jnp.asarray(M))), M_r)
    np.testing.assert_array_equal(embed_complex_matrix((M.real, M.imag)), M_r)
    # spectrum duplicated => PSD equivalence
    lam = np.sort(np.concatenate([np.linalg.eigvalsh(M)] * 2))
    np.testing.assert_allclose(np.linalg.eigvalsh(M_r), lam, atol=1e-12)
    # homomorphism, quadratic forms, traces, Frobenius
    np.testing.assert_allclose(embed_complex_matrix(M @ C), M_r @ C_r, atol=1e-12)
    assert abs(v_r @ M_r @ v_r - np.vdot(v, M @ v).real) < 1e-12
    np.testing.assert_allclose(M_r @ v_r, embed_complex_vector(M @ v), atol=1e-12)
    assert abs(np.trace(M_r) - 2 * np.trace(M).real) < 1e-12
    ref = sum((G[i, j] * M[j, i]) for i in range(n) for j in range(n)).real  # Re tr(G M)
    assert abs(real_trace_product(G_r, M_r) - ref) < 1e-12
    refc = sum((C[i, j] * M[j, i]) for i in range(n) for j in range(n)).real
    assert abs(real_trace_product(C_r, M_r) - refc) < 1e-12
    assert abs(float(real_trace_product(jnp.asarray(C_r), jnp.asarray(M_r))) - refc) < 1e-12
    # inverses
    np.testing.assert_allclose(hermitian_from_embedded(M_r), M, atol=1e-15)
    np.testing.assert_allclose(complex_from_embedded_vector(v_r), v, atol=1e-15)
    re, im = embedded_blocks(M_r)
    np.testing.assert_array_equal(re + 1j * im, M)


def test_embed_jax_is_differentiable():
    M = jnp.asarray(np.arange(4.0).reshape(2, 2) + 1j * np.ones((2, 2)))
    g = jax.grad(lambda t: jnp.sum(embed_complex_matrix(t * M) ** 2))(1.0)
    assert abs(float(g) - 2 * 2 * float(jnp.sum(jnp.abs(M) ** 2))) < 1e-10


def test_embed_cvxpy_expression():
    rng = np.random.default_rng(0)
    n = 3
    Wc = cp.Variable((n, n), hermitian=True)
    M = herm(rng, n)
    Wc.value = M
    E = embed_complex_matrix(Wc)
    np.testing.assert_allclose(E.value, embed_complex_matrix(M), atol=1e-14)


@pytest.mark.parametrize("n", [4, 6])
def test_sdp_embedded_vs_complex_cvxpy(n):
    """max Re tr(C W) s.t. W >= 0, tr W = 1, Re tr(G_k W) >= b_k, and a complex LMI
    t I - (A0 + W) >= 0 with t <= t_max; both ways."""
    rng = np.random.default_rng(n)
    C = herm(rng, n)
    Gs = [np.outer(h, h.conj()) for h in crandn(rng, 2, n)]
    bs = [0.1, 0.1]
    A0 = herm(rng, n) * 0.3
    tmax = float(np.linalg.eigvalsh(A0)[-1]) + 0.8

    W = hermitian_variable(n, "W")
    t = cp.Variable()
    re0, im0 = A0.real, A0.imag
    cons = [W.embedded >> 0, 0.5 * cp.trace(W.embedded) == 1, t <= tmax,
            complex_lmi(t * np.eye(n) - re0 - W.re, -im0 - W.im)]
    cons += [real_trace_product(embed_complex_matrix(G), W.embedded) >= b for G, b in zip(Gs, bs)]
    v = _solve(cp.Problem(cp.Maximize(real_trace_product(embed_complex_matrix(C), W.embedded)), cons))

    Wc = cp.Variable((n, n), hermitian=True)
    tc = cp.Variable()
    cons_c = [Wc >> 0, cp.real(cp.trace(Wc)) == 1, tc <= tmax, tc * np.eye(n) - A0 - Wc >> 0]
    cons_c += [cp.real(cp.trace(G @ Wc)) >= b for G, b in zip(Gs, bs)]
    vc = _solve(cp.Problem(cp.Maximize(cp.real(cp.trace(C @ Wc))), cons_c))
    assert abs(v - vc) <= RTOL * max(1.0, abs(vc))
    # the extracted complex solution is feasible for the complex problem
    Wv = W.value()
    assert np.allclose(Wv, Wv.conj().T)
    assert np.linalg.eigvalsh(Wv)[0] >= -1e-6
    assert abs(np.trace(Wv).real - 1) < 1e-6
    assert abs(np.trace(C @ Wv).real - v) < 1e-6 * max(1, abs(v))
    np.testing.assert_allclose(hermitian_from_embedded(W.embedded), Wv, atol=1e-12)
    # layer-output reconstruction uses the same ordering as cp.vec_to_upper_tri
    np.testing.assert_allclose(hermitian_from_layer(W.re.value, W.im_free.value), Wv, atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(hermitian_from_layer(jnp.asarray(W.re.value), jnp.asarray(W.im_free.value))),
        Wv, atol=1e-12)


def test_hermitian_variable_size_one():
    W = hermitian_variable(1, "w")
    v = _solve(cp.Problem(cp.Minimize(0.5 * cp.trace(W.embedded)), [W.re >= 2.0]))
    assert abs(v - 2.0) < 1e-7 and W.value().shape == (1, 1)


def test_cvxpylayer_value_and_gradient():
    """Layer: max Re tr(G W) - ||W||_F^2 / 2 s.t. W >= 0, tr W <= 1 (strongly concave: unique
    solution), G = h h^H an embedded Parameter. Value vs direct complex cvxpy; d(value)/dt along
    h = h0 + t d vs central finite differences of the direct solves."""
    from cvxpylayers.jax import CvxpyLayer

    rng = np.random.default_rng(1)
    n = 4
    h0, d = crandn(rng, n), crandn(rng, n)
    G_p = cp.Parameter((2 * n, 2 * n))
    W = hermitian_variable(n, "W")
    obj = real_trace_product(G_p, W.embedded) - 0.25 * cp.sum_squares(W.embedded)
    prob = cp.Problem(cp.Maximize(obj), [W.embedded >> 0, 0.5 * cp.trace(W.embedded) <= 1])
    assert prob.is_dpp()
    layer = CvxpyLayer(prob, parameters=[G_p], variables=W.layer_variables)
    # diffcp's Clarabel path gave ~1% gradient errors in test_sprocedure; SCS at tight eps is
    # accurate.
    args = {"solve_method": "SCS", "eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200000}

    def value(t):
        h = jnp.asarray(h0) + t * jnp.asarray(d)
        G_r = embed_complex_matrix(jnp.outer(h, h.conj()))
        Wr = embed_complex_matrix(hermitian_from_layer(*layer(G_r, solver_args=args)))
        return real_trace_product(G_r, Wr) - 0.25 * jnp.sum(Wr**2)

    def direct(t):
        h = h0 + t * d
        Wc = cp.Variable((n, n), hermitian=True)
        G = np.outer(h, h.conj())
        p = cp.Problem(cp.Maximize(cp.real(cp.trace(G @ Wc)) - 0.5 * cp.sum_squares(cp.abs(Wc))),
                       [Wc >> 0, cp.real(cp.trace(Wc)) <= 1])
        return _solve(p)

    assert abs(float(value(0.0)) - direct(0.0)) <= RTOL * abs(direct(0.0))
    g = float(jax.grad(value)(0.0))
    step = 1e-3  # O(step^2) truncation ~1e-6 relative; solver error 1e-8/step
    fd = (direct(step) - direct(-step)) / (2 * step)
    assert abs(g - fd) <= 1e-4 * abs(fd)
