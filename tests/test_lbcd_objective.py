"""L-BCD objective (paper 004 eq. (24) with S = tau_comm sum_k R_k^sec): pieces vs independent
NumPy, the exact 1/P_sense law of the CRB, agreement with evaluate_sim, gradients (finite
differences) and tangency of the Riemannian gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac import manifold as mf
from jisac.algorithms.sim_lbcd import objective as ob
from jisac.designs.sim import SimDesign
from jisac.evaluation.sim import evaluate_sim
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from small_systems import SMALL_SIM, crb, mrt, realize, secrecy

# Same, with the target at 0.1 m: at 20 m the range is nearly unidentifiable from the curvature
# of a 3x3 aperture (equilibrated-FIM condition number ~6e12, so CRB_total carries ~1e-4
# relative round-off and finite differences of it are meaningless); at 0.1 m cond ~1.4e8.
NEAR_TARGET = dict(SMALL_SIM, target_positions=((0.1, 0.0, 10.0),))


_mrt, _realize, _S, _crb = mrt, realize, secrecy, crb


@pytest.fixture(scope="module")
def setup():
    s = SimScenario(**NEAR_TARGET)
    sys = jax.tree_util.tree_map(lambda x: x[0], _realize(s, jax.random.PRNGKey(7), 1))
    d = _mrt(sys, s, MrtParams())
    th = jax.random.uniform(jax.random.PRNGKey(3), (2, 2, 9), minval=-np.pi, maxval=np.pi)
    d = SimDesign(th[0], 0.3 * th[1], d.theta_ce, d.W_RF, d.W_BB, d.R_AN, d.tau, d.p_sense, d.p_comm)
    return s, sys, d


def _np_cascade(theta, h1, h_inter):
    G = np.diag(np.exp(1j * theta[0])) @ h1
    for l in range(1, theta.shape[0]):
        G = np.diag(np.exp(1j * theta[l])) @ (h_inter[l - 1] @ G)
    return G


def _np_secrecy_throughput(theta, sys, d, s, h_inter):
    G = _np_cascade(np.asarray(theta), np.asarray(sys.h1), np.asarray(h_inter))
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    K = W.shape[1]

    def sinr(h, k, sigma2):  # receiver sees h^H G x
        a = np.conj(h) @ G
        sig = abs(a @ W[:, k]) ** 2
        intf = sum(abs(a @ W[:, j]) ** 2 for j in range(K) if j != k)
        return sig / (intf + np.real(a @ R @ np.conj(a)) + sigma2)

    total = 0.0
    for k in range(K):
        ru = np.log2(1 + sinr(np.asarray(sys.H_users[k]), k, s.noise))
        re = max(np.log2(1 + sinr(np.asarray(he), k, s.noise_eve)) for he in sys.H_eves)
        total += max(ru - re, 0.0)
    return float(d.tau[2]) * total


@pytest.mark.parametrize("model", ["design", "eval"])
def test_secrecy_throughput_vs_numpy(setup, model):
    s, sys, d = setup
    h_inter = sys.h_inter if model == "design" else sys.h_inter_eval
    ref = _np_secrecy_throughput(d.theta_comm, sys, d, s, h_inter)
    assert ref > 0  # the check is not vacuous ([.]^+ inactive for at least one user)
    np.testing.assert_allclose(float(_S(sys, d, s, model)), ref, rtol=1e-10)


def test_crb_exact_inverse_power_law(setup):
    """FIM linear in X X^H (prop. to P_sense) => J(2P) = 2 J(P) and CRB(2P) = CRB(P)/2 exactly.

    J is checked at float64 round-off. The CRB goes through the Schur complement / inverse of the
    equilibrated FIM K, which amplifies round-off by cond(K) (here ~1e12-1e13: the range is
    nearly unidentifiable from the near-field curvature of a 3x3 aperture), so its tolerance is
    10 cond(K) eps -- asserted to stay < 1e-2, far below the factor sqrt(2) of a wrong power law.
    """
    s, sys, d = setup
    from jisac.hardware.sim import sim_cascade
    from jisac.metrics.crb import orthogonal_probing, sim_target_fim
    G = sim_cascade(d.theta_sense, sys.h1, sys.h_inter)
    dt = d.tau[1] * s.t_slot / s.sensing_snapshots

    @jax.jit
    def fim(p):
        X = orthogonal_probing(s.n_bs_antennas, s.sensing_snapshots, p)
        return (sim_target_fim(sys.targets[0], G, X, sys.positions, s.wavelength, dt,
                                         s.noise, azimuth=0.0, d0=s.reference_distance_m,
                                         pathloss_exp=s.pathloss_exponent))

    J1, J2 = np.asarray(fim(d.p_sense)), np.asarray(fim(2.0 * d.p_sense))
    np.testing.assert_allclose(J2, 2.0 * J1, rtol=1e-12, atol=1e-13 * np.max(np.abs(J1)))
    dg = np.sqrt(np.diag(J1))
    cond = np.linalg.cond(J1 / dg[:, None] / dg[None, :])
    tol = 10 * cond * np.finfo(float).eps
    assert tol < 1e-2
    crb = jax.jit(ob.crb_total_theta, static_argnames=("s", "model"))
    c1 = crb(d.theta_sense, d.p_sense, sys, d, s)
    c2 = crb(d.theta_sense, 2.0 * d.p_sense, sys, d, s)
    assert np.isfinite(float(c1)) and float(c1) > 0
    np.testing.assert_allclose(float(c2), float(c1) / 2.0, rtol=tol)


def test_pieces_match_evaluate_sim(setup):
    """model='eval' reproduces evaluate_sim's secrecy rate (x tau_comm) and CRB_total. Two
    separately compiled programs: the CRB agrees to ~cond(K) eps ~ 3e-8 (target at 0.1 m), hence
    rtol 1e-6 for it."""
    s, sys, d = setup
    m = jax.jit(evaluate_sim, static_argnums=(2,))(sys, d, s)
    np.testing.assert_allclose(float(_S(sys, d, s, "eval")),
                               float(d.tau[2] * m["sum_secrecy_rate"]), rtol=1e-12)
    np.testing.assert_allclose(float(_crb(sys, d, s, "eval")), float(m["crb_total"]), rtol=1e-6)
    with pytest.raises(ValueError):
        ob.secrecy_throughput(sys, d, s, model="rician")


def test_utility_gradient_fd_and_tangent(setup):
    """The circle-manifold gradient of -U (jitted, alpha traced): its phase form
    d(-U)/dtheta = Im(grad_E conj z) vs central differences of U along random directions, and
    grad_R = P_z(grad_E) is tangent (Re(g conj z) = 0) and equals j z d(-U)/dtheta."""
    s, sys, d = setup
    norm = ob.Normalizers(r_max=float(_S(sys, d, s)), crb_min=float(_crb(sys, d, s)))

    @jax.jit
    def u_th(tc, ts, alpha):
        dd = SimDesign(tc, ts, d.theta_ce, d.W_RF, d.W_BB, d.R_AN, d.tau, d.p_sense, d.p_comm)
        return ob.utility(sys, dd, s, alpha, norm)

    alpha = jnp.asarray(0.4)
    # (24) with S, CRB at their normalisers: U = (1 - 0.4) - 0.4 (CRB in it: rtol 1e-6, see above)
    np.testing.assert_allclose(float(u_th(d.theta_comm, d.theta_sense, alpha)), 0.2, rtol=1e-6)
    u2 = u_th(d.theta_comm, d.theta_sense, jnp.asarray(1.0))    # alpha traced: no recompile
    np.testing.assert_allclose(float(u2), -1.0, rtol=1e-6)

    def neg_u(z):
        th = mf.circle_to_phases(z)
        return -u_th(th[0], th[1], alpha)

    z = mf.phases_to_circle(jnp.stack([d.theta_comm, d.theta_sense]))
    ge = np.asarray(jax.jit(lambda z: mf.euclidean_grad(neg_u, z))(z))
    zn = np.asarray(z)
    gc, gs = -np.imag(ge * np.conj(zn))                       # dU/dtheta_comm, dU/dtheta_sense
    rng = np.random.default_rng(1)
    vc, vs = rng.standard_normal((2,) + d.theta_comm.shape)
    zero = np.zeros_like(vc)

    def fd(h, dc, ds):
        return float((u_th(d.theta_comm + h * dc, d.theta_sense + h * ds, alpha)
                      - u_th(d.theta_comm - h * dc, d.theta_sense - h * ds, alpha)) / (2 * h))

    # secrecy part (well conditioned): truncation O(h^2) ~ 1e-10, round-off eps/h ~ 1e-11
    np.testing.assert_allclose(fd(1e-5, vc, zero), float(np.sum(gc * vc)), rtol=1e-6)
    # CRB part: round-off cond(K) eps / h ~ 3e-8 / 1e-3 = 3e-5 relative, truncation ~h^2 = 1e-6
    np.testing.assert_allclose(fd(1e-3, zero, vs), float(np.sum(gs * vs)), rtol=1e-3)

    g = np.asarray(mf.project_tangent(z, jnp.asarray(ge)))
    assert np.max(np.abs(g)) > 0
    np.testing.assert_allclose(np.real(g * np.conj(zn)), 0.0, atol=1e-12 * np.max(np.abs(g)))
    np.testing.assert_allclose(g, 1j * zn * (-np.stack([gc, gs])), rtol=0,
                               atol=1e-12 * np.max(np.abs(g)))
