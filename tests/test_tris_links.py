"""Tests of jisac.channels.tris_links (paper 000 eqs. (4)-(13), (32), (36)-(44)).

Every check compares against an independent reference written here: NumPy loops over
``(n_r, n_c)``, closed forms, brute-force searches, or Monte Carlo with a stated bound.
Monte-Carlo tolerances are 5 sigma of the estimator (false-failure probability < 1e-6 per
check); KS tests use the Dvoretzky-Kiefer-Wolfowitz bound at alpha = 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jisac.channels import tris_links as tl

NR, NC, S = 4, 4, 0.5
N = NR * NC
LAM = 299_792_458.0 / 30e9  # 30 GHz (000 Table I)
K_RICE = 10.0
DEG = np.pi / 180


def jvmap(f):
    return jax.jit(jax.vmap(f))


def np_steering(pitch, azimuth, nr=NR, nc=NC, s=S):
    """000 eq. (5) by explicit loop, element n = nc * n_r + n_c."""
    a = np.zeros(nr * nc, complex)
    dr = s * np.sin(pitch) * np.cos(azimuth)
    dc = s * np.sin(pitch) * np.sin(azimuth)
    for r in range(nr):
        for c in range(nc):
            a[nc * r + c] = np.exp(-2j * np.pi * (dr * r + dc * c))
    return a


def np_steering_fast(pitch, azimuth, nr, nc, s=S):
    """Vectorised eq. (5) via divmod of the element index (used in brute-force searches)."""
    r, c = np.divmod(np.arange(nr * nc), nc)
    dr = s * np.sin(pitch) * np.cos(azimuth)
    dc = s * np.sin(pitch) * np.sin(azimuth)
    return np.exp(-2j * np.pi * (dr * r + dc * c))


def np_worst_f(az, pitch, dth, dph, eps, k, nr=NR, nc=NC, s=S):
    """max over the NLoS discs of ||Dg||^2 for one angle error: sum_n (eps + sqrt(k)|chord_n|)^2
    (the NLoS entry of modulus eps aligned with the LoS chord sqrt(k)(a_n - a_hat_n))."""
    a_hat = np_steering_fast(pitch, az, nr, nc, s)
    a = np_steering_fast(pitch + dth, az + dph, nr, nc, s)
    return float(np.sum((eps + np.sqrt(k) * np.abs(a - a_hat)) ** 2))


# ------------------------------------------------------------------------------- LU links


def test_path_loss_closed_form():
    d = np.array([1.0, 50.0, 90.0])
    np.testing.assert_allclose(tl.path_loss_free_space(d, LAM), LAM / (4 * np.pi * d), rtol=1e-14)


def test_los_and_radar_steering_match_numpy_loop():
    az, pitch, d = 35 * DEG, 25 * DEG, 65.0
    a_ref = np_steering(pitch, az)
    np.testing.assert_allclose(tl.radar_steering(az, pitch, NR, NC, S), a_ref, atol=1e-12)
    np.testing.assert_allclose(np_steering_fast(pitch, az, NR, NC), a_ref, atol=1e-12)
    xi = LAM / (4 * np.pi * d)
    np.testing.assert_allclose(tl.lu_los_channel(d, az, pitch, NR, NC, S, LAM, K_RICE),
                               xi * np.sqrt(K_RICE / (K_RICE + 1)) * a_ref, atol=1e-12 * xi)


@pytest.mark.parametrize("nr,nc,mr,mc", [(4, 4, 1, 0), (4, 4, 0, 1), (4, 4, -1, -1),
                                         (4, 4, 1, -1), (2, 8, -1, -1), (2, 8, 0, -1)])
def test_steering_orthogonal_at_dft_angles(nr, nc, mr, mc):
    # pick spatial frequencies (delta_r, delta_c), shift by DFT multiples (1/Nr, 1/Nc), invert to
    # angles (all chosen inside the visible region sqrt(dr^2 + dc^2) <= d_f / lambda)
    dr1, dc1 = 0.05, 0.10
    dr2, dc2 = dr1 + mr / nr, dc1 + mc / nc
    ang = []
    for dr, dc in [(dr1, dc1), (dr2, dc2)]:
        u, v = dr / S, dc / S
        ang.append((np.arcsin(np.hypot(u, v)), np.arctan2(v, u)))  # (pitch, azimuth)
    a1 = np.asarray(tl.radar_steering(ang[0][1], ang[0][0], nr, nc, S))
    a2 = np.asarray(tl.radar_steering(ang[1][1], ang[1][0], nr, nc, S))
    np.testing.assert_allclose(a2, np_steering(ang[1][0], ang[1][1], nr, nc), atol=1e-12)
    assert abs(np.vdot(a1, a1) - nr * nc) < 1e-12
    assert abs(np.vdot(a1, a2)) < 1e-12 * nr * nc  # exact zero of the Dirichlet kernel


def test_lu_channel_rician_moments(key):
    """Per-element mean power xi^2 and K-factor from 1e5 draws (5-sigma bounds)."""
    n_draws, d, az, pitch, k = 100_000, 50.0, 22.5 * DEG, 10 * DEG, 3.0
    keys = jax.random.split(key, n_draws)
    h = np.asarray(jvmap(lambda kk: tl.lu_channel(kk, d, az, pitch, NR, NC, S, LAM, k))(keys))
    xi2 = (LAM / (4 * np.pi * d)) ** 2
    h = h / np.sqrt(xi2)  # unit path gain
    mu = np.sqrt(k / (k + 1)) * np_steering(pitch, az)
    s2 = 1 / (k + 1)
    # mean per element: sample mean error ~ CN(0, s2/n): Pr(|e| > 5 sqrt(s2/n)) = e^-25
    assert np.all(np.abs(h.mean(0) - mu) < 5 * np.sqrt(s2 / n_draws))
    # mean power E|h_n|^2 = 1 (xi^2); Var|h_n|^2 = s2^2 + 2|mu|^2 s2 (non-central chi^2)
    var_p = s2**2 + 2 * (k / (k + 1)) * s2
    p_hat = np.mean(np.abs(h) ** 2)
    assert abs(p_hat - 1.0) < 5 * np.sqrt(var_p / (n_draws * N))
    # scattered power s2 (Var|z|^2 = s2^2 for z ~ CN(0, s2)) and K = |mu|^2 / s2
    s2_hat = np.mean(np.abs(h - mu) ** 2)
    tol_s2 = 5 * s2 / np.sqrt(n_draws * N)
    assert abs(s2_hat - s2) < tol_s2
    m_hat2 = np.mean(np.abs(h.mean(0)) ** 2)
    rel_m = 2 * 5 * np.sqrt(s2 / n_draws) / np.sqrt(k / (k + 1)) + 25 * s2 / n_draws / (k / (k + 1))
    k_hat = m_hat2 / s2_hat
    assert abs(k_hat / k - 1) < (1 + rel_m) / (1 - tol_s2 / s2) - 1


# ------------------------------------------------------------------------------- LU errors


def test_bounded_error_uniform_in_volume(key):
    n, eps, m = 8, 0.3, 20_000
    x = np.asarray(jvmap(lambda kk: tl.sample_bounded_error(kk, eps, n, jnp.complex128))(
        jax.random.split(key, m)))
    assert x.shape == (m, n) and x.dtype == np.complex128
    r = np.linalg.norm(x, axis=1)
    assert np.all(r <= eps * (1 + 1e-12))
    u = (r / eps) ** (2 * n)  # uniform in volume of R^{2n} <=> U(0,1)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / m)
    dkw = np.sqrt(np.log(2 / 1e-6) / (2 * m))
    assert scipy.stats.kstest(u, "uniform").statistic < dkw
    # E||x||^2 = eps^2 2n/(2n+2); Var = eps^4 (n/(n+2) - (n/(n+1))^2)  (r^2 = eps^2 U^{1/n})
    e_r2 = eps**2 * n / (n + 1)
    v_r2 = eps**4 * (n / (n + 2) - (n / (n + 1)) ** 2)
    assert abs(np.mean(r**2) - e_r2) < 5 * np.sqrt(v_r2 / m)
    # zero mean and circularity E[x_i^2] = 0; E|x_i|^2 = eps^2/(n+1),
    # E|x_i|^4 = E r^4 E|u_i|^4 = eps^4 (n/(n+2)) (2/(n(n+1))) bounds E|x_i^2 - 0|^2
    assert np.all(np.abs(x.mean(0)) < 5 * np.sqrt(e_r2 / n / m))
    assert np.all(np.abs((x**2).mean(0)) < 5 * eps**2 * np.sqrt(2 / ((n + 1) * (n + 2)) / m))


def test_bounded_error_on_sphere_and_gaussian(key):
    k1, k2 = jax.random.split(key)
    n, eps, m = 6, 0.2, 20_000
    x = np.asarray(jvmap(lambda kk: tl.sample_bounded_error_on_sphere(kk, eps, n,
                                                                       jnp.complex128))(
        jax.random.split(k1, m)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), eps, rtol=1e-12)
    # uniform direction: E[x x^H] = eps^2/n I. Second moments of the estimator entries:
    # E|x_i|^2|x_j|^2 = eps^4/(n(n+1)) (i != j), E|x_i|^4 = 2 eps^4/(n(n+1)) -> std <= that / m
    c = x.T @ x.conj() / m
    assert np.all(np.abs(c - eps**2 / n * np.eye(n)) < 5 * eps**2 * np.sqrt(2 / (n * (n + 1) * m)))
    sigma2 = 0.01
    z = np.asarray(jvmap(lambda kk: tl.sample_gaussian_error(kk, sigma2, n, jnp.complex128))(
        jax.random.split(k2, m)))
    c = z.T @ z.conj() / m
    # entry (i,j) of the sample covariance has std sigma2/sqrt(m)
    assert np.all(np.abs(c - sigma2 * np.eye(n)) < 5 * sigma2 / np.sqrt(m))
    assert np.all(np.abs((z**2).mean(0)) < 5 * sigma2 * np.sqrt(2 / m))  # circular, E|z|^4 = 2s^4


# ------------------------------------------------------------------------------- IU links

IU = dict(d_hat=65.0, az_hat=35 * DEG, pitch_hat=25 * DEG, D=5.0, Theta=2 * DEG, Phi=2 * DEG)
EPS_IU = 0.1 * np.sqrt(K_RICE)  # 000 Sec. V


def test_phase_error_vs_numpy_loop():
    az, pt, dph, dth = 35 * DEG, 25 * DEG, -1.3 * DEG, 0.7 * DEG
    ref = np.zeros(N)
    for r in range(NR):
        for c in range(NC):
            dr_h = S * np.sin(pt) * np.cos(az)
            dc_h = S * np.sin(pt) * np.sin(az)
            dr = S * np.sin(pt + dth) * np.cos(az + dph)
            dc = S * np.sin(pt + dth) * np.sin(az + dph)
            ref[NC * r + c] = 2 * np.pi * abs(dr_h * r + dc_h * c - dr * r - dc * c)
    np.testing.assert_allclose(tl.iu_phase_error(az, pt, dph, dth, NR, NC, S), ref, atol=1e-13)
    # eq. (42) per-element form equals the chord form |sqrt(k)(a - a_hat)| + eps
    chord = np.abs(np_steering(pt + dth, az + dph) - np_steering(pt, az))
    np.testing.assert_allclose(tl.iu_element_error_bound(ref, EPS_IU, K_RICE),
                               EPS_IU + np.sqrt(K_RICE) * chord, atol=1e-12)


def test_iu_sample_decomposition_and_ranges(key):
    m = 2000
    s = jvmap(lambda kk: tl.sample_iu_channel(kk, **IU, eps_mn=EPS_IU, n_rows=NR, n_cols=NC,
                                                 spacing_over_lambda=S, wavelength=LAM,
                                                 rician_k=K_RICE))(jax.random.split(key, m))
    s = jax.tree.map(np.asarray, s)
    assert np.all(np.abs(s.delta_d) <= IU["D"]) and np.all(np.abs(s.delta_pitch) <= IU["Theta"])
    assert np.all(np.abs(s.delta_azimuth) <= IU["Phi"])
    assert np.all(np.abs(s.g_nlos) <= EPS_IU * (1 + 1e-12))
    # uniform in the disc: E|g|^2 = eps^2/2, Var|g|^2 = eps^4/12
    assert abs(np.mean(np.abs(s.g_nlos) ** 2) - EPS_IU**2 / 2) < 5 * EPS_IU**2 / np.sqrt(12 * m * N)
    # eq. (7) and (44) rebuilt with NumPy for a few draws
    g_hat = np.sqrt(K_RICE) * np_steering(IU["pitch_hat"], IU["az_hat"])
    np.testing.assert_allclose(tl.iu_channel_estimate(IU["az_hat"], IU["pitch_hat"], NR, NC, S,
                                                      K_RICE), g_hat, atol=1e-12)
    idx = np.arange(0, m, 397)
    d = IU["d_hat"] + s.delta_d[idx]
    dg_fn = jax.jit(jax.vmap(lambda g, dd: tl.iu_delta_g(g, dd, g_hat, LAM, K_RICE)))
    dg = np.asarray(dg_fn(s.g[idx], d))
    for j, i in enumerate(idx):
        scale = np.sqrt(LAM**2 / ((4 * np.pi) ** 2 * (1 + K_RICE) * d[j] ** 2))
        a = np_steering(IU["pitch_hat"] + s.delta_pitch[i], IU["az_hat"] + s.delta_azimuth[i])
        g_ref = scale * (np.sqrt(K_RICE) * a + s.g_nlos[i])
        np.testing.assert_allclose(s.g[i], g_ref, atol=1e-12 * scale)
        np.testing.assert_allclose(s.delta_g[i], g_ref / scale - g_hat, atol=1e-10)
        np.testing.assert_allclose(dg[j], s.delta_g[i], atol=1e-10)


def test_tau_bound_contains_sampled_errors(key):
    args = (IU["az_hat"], IU["pitch_hat"], IU["Theta"], IU["Phi"], EPS_IU, NR, NC, S, K_RICE)
    tau = float(jax.jit(tl.iu_tau_bound, static_argnums=(5, 6, 7))(*args))
    m = 20_000
    s = jvmap(lambda kk: tl.sample_iu_channel(kk, **IU, eps_mn=EPS_IU, n_rows=NR, n_cols=NC,
                                                 spacing_over_lambda=S, wavelength=LAM,
                                                 rician_k=K_RICE))(jax.random.split(key, m))
    norms = np.linalg.norm(np.asarray(s.delta_g), axis=1)
    assert np.all(norms <= tau)
    # worst-case corners: angle at the 4 corners, NLoS of modulus eps aligned with each chord
    for a in (-1, 1):
        for b in (-1, 1):
            assert np_worst_f(IU["az_hat"], IU["pitch_hat"], a * IU["Theta"], b * IU["Phi"],
                              EPS_IU, K_RICE) <= tau**2


@pytest.mark.parametrize("nr,nc,theta_deg,az_deg,pitch_deg", [
    (4, 4, 2.0, 35.0, 25.0),     # small error: max on a corner (not always (+T, +P))
    (8, 8, 20.0, 35.0, 25.0),    # large error: phases wrap, max in the interior
])
def test_tau_bound_guaranteed_vs_brute_force(nr, nc, theta_deg, az_deg, pitch_deg, rng):
    az, pt, th = az_deg * DEG, pitch_deg * DEG, theta_deg * DEG
    parts = tl.iu_tau_bound_parts(az, pt, th, th, EPS_IU, nr, nc, S, K_RICE)
    tau2 = float(parts.tau**2)
    # brute force: random angles in the box plus its edges, worst-case NLoS (NumPy)
    pts = rng.uniform(-1, 1, (3000, 2))
    pts[:400, 0] = np.sign(pts[:400, 0])
    pts[400:800, 1] = np.sign(pts[400:800, 1])
    vals = np.array([np_worst_f(az, pt, p[0] * th, p[1] * th, EPS_IU, K_RICE, nr, nc)
                     for p in pts])
    assert vals.max() <= tau2
    # the grid maximum is attained by a point of the box (lower bound of the true max), and the
    # Lipschitz margin is what separates it from tau^2
    g = 33
    small = tl.iu_tau_bound_parts(az, pt, th, th, EPS_IU, nr, nc, S, K_RICE, n_grid=g)
    t = np.linspace(-1, 1, g)
    grid_ref = max(np_worst_f(az, pt, a * th, b * th, EPS_IU, K_RICE, nr, nc) for a in t for b in t)
    np.testing.assert_allclose(float(small.tau2_grid_max), grid_ref, rtol=1e-10)
    assert vals.max() <= float(small.tau**2)  # coarse grid: larger margin, still a bound
    # the paper's tau (eq. (43) at the single error (+Theta, +Phi)) is NOT a bound
    paper = float(tl.iu_tau_at(az, pt, th, th, EPS_IU, nr, nc, S, K_RICE)) ** 2
    assert paper < vals.max()


@pytest.mark.parametrize("nr,nc,theta_deg", [(8, 8, 20.0), (4, 4, 2.0)])
def test_tau_lipschitz_constant_holds(nr, nc, theta_deg, rng):
    """Numerical slopes of f along each angle never exceed the L used for the margin (the small
    error case exercises the S_n = pi s r_n (Theta + Phi) < 1 refinement)."""
    th = theta_deg * DEG
    az, pt = 35 * DEG, 25 * DEG
    lip = float(tl.iu_tau_bound_parts(az, pt, th, th, EPS_IU, nr, nc, S, K_RICE,
                                      n_grid=5).lipschitz)
    h = 1e-6
    for p in rng.uniform(-1, 1, (200, 2)) * th:
        f0 = np_worst_f(az, pt, p[0], p[1], EPS_IU, K_RICE, nr, nc)
        s_th = abs(np_worst_f(az, pt, p[0] + h, p[1], EPS_IU, K_RICE, nr, nc) - f0) / h
        s_ph = abs(np_worst_f(az, pt, p[0], p[1] + h, EPS_IU, K_RICE, nr, nc) - f0) / h
        assert max(s_th, s_ph) <= lip


# ------------------------------------------------------------------------ Gaussian IU model


@pytest.mark.parametrize("dof", [2, 32, 128])
def test_chi2_quantile_vs_scipy(dof):
    q = np.array([0.5, 0.9, 0.99, 1 - 1e-6])
    np.testing.assert_allclose(tl.chi2_quantile(q, dof), scipy.stats.chi2.ppf(q, dof), rtol=1e-9)


def test_gaussian_error_variance_rules(key):
    tau, p, m = 1.7, 0.05, 100_000
    s2 = float(tl.iu_error_variance_quantile(tau, N, p))
    dg = np.asarray(jvmap(lambda kk: tl.sample_gaussian_error(kk, s2, N, jnp.complex128))(
        jax.random.split(key, m)))
    frac = np.mean(np.linalg.norm(dg, axis=1) > tau)
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / m)  # 5-sigma binomial
    np.testing.assert_allclose(tl.iu_error_variance_moment(tau, N), tau**2 / N, rtol=1e-14)


def test_iu_gaussian_channel_covariance(key, rng):
    n, m = 4, 100_000
    b = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    e_e = 0.05 * (b @ b.conj().T / n + np.eye(n))
    chol = np.linalg.cholesky(e_e)
    g_hat = np.sqrt(K_RICE) * np_steering(0.3, 0.4, 2, 2)
    scale = 1e-3
    g = np.asarray(jvmap(lambda kk: tl.iu_gaussian_channel(kk, g_hat, chol, scale))(
        jax.random.split(key, m)))
    dg = g / scale - g_hat
    c = dg.T @ dg.conj() / m
    d = np.real(np.diag(e_e))
    assert np.all(np.abs(c - e_e) < 5 * np.sqrt(np.outer(d, d) / m))
    assert np.all(np.abs(dg.mean(0)) < 5 * np.sqrt(d / m))


# ------------------------------------------------------------------------------- radar


def test_radar_channel_and_sensing_gain():
    d, az, pt = 65.0, 35 * DEG, 25 * DEG
    c = np.asarray(tl.radar_channel(d, az, pt, NR, NC, S, LAM))
    assert c.shape == (N,)
    a = np_steering(pt, az)
    b = np.exp(-2j * np.pi * d / LAM)
    np.testing.assert_allclose(c, b * a.conj(), atol=1e-12)
    x = np.arange(N) + 1j * np.arange(N)[::-1]
    np.testing.assert_allclose(c @ x, b * np.vdot(a, x), rtol=1e-12)  # b a^H x
    s_rcs, s_r2 = 1.0, 1e-12
    sa2 = s_rcs * LAM**2 / ((4 * np.pi) ** 3 * d**4)
    np.testing.assert_allclose(tl.rcs_reflection_variance(s_rcs, LAM, d), sa2, rtol=1e-14)
    d_h, az_h, pt_h = 66.0, 34 * DEG, 26 * DEG
    c_hat = tl.radar_channel(d_h, az_h, pt_h, NR, NC, S, LAM)
    a_h = np_steering(pt_h, az_h)
    ref = sa2 * abs(np.vdot(a, a_h)) ** 2 / (N**2 * s_r2)
    np.testing.assert_allclose(tl.normalized_sensing_gain(c, c_hat, sa2, s_r2), ref, rtol=1e-12)
    np.testing.assert_allclose(tl.normalized_sensing_gain(c, c, sa2, s_r2), sa2 / s_r2, rtol=1e-12)


# ------------------------------------------------------------------------------- autodiff


def test_jit_vmap_grad_smoke(key):
    w = jnp.asarray(np_steering(0.3, 0.5))

    @jax.jit
    def gain(pitch):
        a = tl.radar_steering(0.5, pitch, NR, NC, S)
        return jnp.abs(jnp.vdot(a, w)) ** 2

    dgain = jax.jit(jax.grad(gain))
    p0, h = 0.31, 1e-6
    g = dgain(p0)
    fd = (gain(p0 + h) - gain(p0 - h)) / (2 * h)  # O(h^2) truncation, eps/h round-off
    assert np.isfinite(g) and abs(g - fd) < 1e-6 * max(1.0, abs(fd))
    assert abs(dgain(0.3)) < 1e-8  # matched angle: |a^H w| = N is a maximum
    keys = jax.random.split(key, 8)
    hs = jax.jit(jvmap(lambda kk: tl.lu_channel(kk, 50.0, 0.4, 0.2, NR, NC, S, LAM, 3.0)))(keys)
    assert hs.shape == (8, N)
    dtau = jax.jit(jax.grad(lambda th: tl.iu_tau_bound(0.6, 0.4, th, th, EPS_IU, NR, NC, S,
                                                       K_RICE, n_grid=33)))(2 * DEG)
    assert np.isfinite(dtau) and dtau > 0
    dh = jax.jit(jax.grad(lambda d: jnp.sum(jnp.abs(tl.lu_channel(key, d, 0.4, 0.2, NR, NC, S,
                                                                  LAM, 3.0)) ** 2)))(50.0)
    assert np.isfinite(dh) and dh < 0
    ds = jax.jit(jax.grad(lambda th: jnp.sum(jnp.abs(tl.sample_iu_channel(
        key, 65.0, 0.6, 0.4, 5.0, th, th, EPS_IU, NR, NC, S, LAM, K_RICE).delta_g) ** 2)))(0.03)
    assert np.isfinite(ds)
