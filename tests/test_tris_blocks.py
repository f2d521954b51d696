"""Tests for jisac.convex.tris_blocks: the (P2.1) one-slot CvxpyLayer of paper 000.

The layer's solution is checked constraint by constraint with independent numerics: worst-case
SINR / leakage by trust-region subproblem + bisection, outage by Monte Carlo (1e5 draws,
5 sigma), per-element power, common-rate (46), beampattern, detection floor; the layer optimum
equals a direct Clarabel solve; d(power)/d(chi) matches central finite differences.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.convex.tris_blocks import build_p21_slot

N, K, M = 4, 2, 1
P_OUT, SIGMA_E, RATE_E = 0.1, 0.05, 1.0
E_SQRT = 0.1
N_MC = 100_000
SCS = {"solve_method": "SCS", "eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200000}
def trs_max(U, h, eps):
    """max_{||d||<=eps} (h+d)^H U (h+d) for Hermitian U (trust-region subproblem).

    Eigendecomposition + bisection on the secular equation ||(mu I - U)^{-1} U h|| = eps,
    mu > max(lambda_max, 0) (KKT of the maximisation); the interior case mu = 0 when U < 0 and
    the unconstrained maximiser d = -h lies in the ball. The hard case has measure zero for the
    random instances used here.
    """
    lam, V = np.linalg.eigh(U)
    b = V.conj().T @ (U @ h)
    val = lambda d: float(np.real(np.vdot(h + d, U @ (h + d))))
    if lam[-1] < 0 and np.linalg.norm(h) <= eps:
        return val(-h)
    phi = lambda mu: np.sum(np.abs(b) ** 2 / (mu - lam) ** 2)
    lo = max(lam[-1], 0.0)
    hi = lo + 1.0
    while phi(hi) > eps**2:
        hi = lo + 2 * (hi - lo)
    lo_b = lo
    for _ in range(200):
        mid = 0.5 * (lo_b + hi)
        if phi(mid) > eps**2:
            lo_b = mid
        else:
            hi = mid
    mu = 0.5 * (lo_b + hi)
    d = V @ (b / (mu - lam))
    return val(d)


def bisect(pred, lo, hi, iters=100):
    """Largest x in [lo, hi] with pred(x) True, for a monotone (True then False) predicate."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo



@pytest.fixture(scope="module")
def slot():
    return build_p21_slot(N, K, M, p_out_lu=P_OUT, p_out_iu=P_OUT, sigma_e=SIGMA_E,
                          rate_e=RATE_E, E_sqrt=np.stack([E_SQRT * np.eye(N)] * M))


def _inputs():
    rng = np.random.default_rng(0)
    cr = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)) / np.sqrt(2)
    psi = rng.uniform(0, 2 * np.pi, (M, 1)) * np.arange(N)[None, :]
    r = cr(N)
    return dict(h_hat=cr(K, N), eps_sq=np.full(K, 0.05), noise_lu=np.ones(K), a=np.ones(K),
                gamma_c0=0.414, chi=np.ones(K), g_hat=np.sqrt(2) * np.exp(-1j * psi),
                tau_sq=np.full(M, 0.1), K_dist=np.full(M, 10.0), delta_sq=np.full(M, 0.01),
                iota=np.ones(K), P_t=10.0, p_min=1.5, R=np.outer(r, r.conj()),
                sqrt_delta_bp=3.0)


def test_p21_solution_satisfies_every_constraint(slot, key):
    inp = _inputs()
    W, power = slot(solver_args=SCS, **inp)
    W = np.asarray(W)
    Wc, Wp = W[0], W[1:]
    tol = 1e-6  # SCS at eps 1e-10 on O(1) data
    assert all(np.linalg.eigvalsh(Wi)[0] >= -tol for Wi in W)                          # (34c)
    assert np.real(np.diag(W.sum(0))).max() <= inp["P_t"] + tol                         # (34d)
    assert float(power) >= inp["p_min"] - tol                                           # (62)
    assert np.linalg.norm(W.sum(0) - inp["R"]) <= inp["sqrt_delta_bp"] + tol            # (34k)
    for k in range(K):
        h = inp["h_hat"][k]
        H = np.outer(h, h.conj()) + SIGMA_E**2 * np.eye(N)
        lhs = np.trace(H @ Wc).real
        rhs = inp["gamma_c0"] * (sum(np.trace(H @ Wi).real for Wi in Wp) + 1.0)
        assert lhs >= rhs - tol                                                          # (46)
        S = sum(Wp[i] for i in range(K) if i != k)
        eps = math.sqrt(inp["eps_sq"][k])
        wc = bisect(lambda c: trs_max(c * S - Wp[k], h, eps) + c <= 0, 0.0, 1e3)       # (67)
        assert wc >= inp["chi"][k] * (1 - 1e-5)
        # (47): Pr{gamma_p <= 1/a} <= P_out, h = h_hat + sigma_e CN(0, I)
        e = jax.random.normal(jax.random.fold_in(key, k), (N_MC, N), jnp.complex128)
        hh = jnp.asarray(h)[None] + SIGMA_E * e
        q = lambda A: jnp.real(jnp.einsum("mi,ij,mj->m", hh.conj(), jnp.asarray(A), hh))
        out = float(jnp.mean(q(Wp[k]) / (q(S) + 1.0) <= 1.0 / inp["a"][k]))
        assert out <= P_OUT + 5 * math.sqrt(P_OUT * (1 - P_OUT) / N_MC)
    for m in range(M):
        g = inp["g_hat"][m]
        neff = inp["K_dist"][m] * (1 - math.sqrt(inp["delta_sq"][m])) ** 2
        tau = math.sqrt(inp["tau_sq"][m])
        e = jax.random.normal(jax.random.fold_in(key, 100 + m), (N_MC, N), jnp.complex128)
        gg = jnp.asarray(g)[None] + E_SQRT * e
        q = lambda A: jnp.real(jnp.einsum("mi,ij,mj->m", gg.conj(), jnp.asarray(A), gg))
        for k in range(K):
            # (73)-(74): worst-case leakage over ||Dg|| <= tau and |Dd| <= D is <= iota
            leak = bisect(lambda i: trs_max(Wp[k] - i * Wc, g, tau) > i * neff, 0.0, 1e4)
            assert leak <= inp["iota"][k] * (1 + 1e-5)
            # (54): Pr{gamma_km >= 2^{r_e} - 1} <= P_out at the worst distance
            out = float(jnp.mean(q(Wp[k]) / (q(Wc) + neff) >= 2.0**RATE_E - 1.0))
            assert out <= P_OUT + 5 * math.sqrt(P_OUT * (1 - P_OUT) / N_MC)


def test_p21_layer_matches_direct_solve_and_fd(slot):
    inp = {**_inputs(), "p_min": 0.0}  # detection floor inactive: power depends on chi
    for name, val in zip(slot.param_order, slot.parameters(**inp)):
        next(p for p in slot.problem.parameters() if p.name() == name).value = np.asarray(val)
    slot.problem.solve(solver="CLARABEL")
    assert slot.problem.status in ("optimal", "optimal_inaccurate")
    f = lambda c: slot(solver_args=SCS, **{**inp, "chi": c})[1]
    chi0 = jnp.asarray(inp["chi"], jnp.float64)
    assert abs(float(f(chi0)) - slot.problem.value) <= 1e-5 * slot.problem.value
    g = jax.grad(f)(chi0)
    d = jnp.asarray([1.0, 1.0])
    step = 1e-3  # O(step^2) truncation; solver error ~1e-9 / step
    fd = (float(f(chi0 + step * d)) - float(f(chi0 - step * d))) / (2 * step)
    assert abs(fd) > 0.05  # the (67) constraints are active, so the derivative is not trivial
    assert abs(float(g @ d) - fd) <= 1e-4 * abs(fd)
