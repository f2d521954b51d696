"""SIM physics (paper 004 eqs. (2), (4)-(10), (31)): cascade, quantisation, links, coupling.

References are written here independently: explicit NumPy matrix products and loops, brute-force
nearest-point search, the RIS cascaded-channel identity, far-field asymptotics, Monte Carlo.
Small sizes: M = 4, L = 2, N_l = 9 (3 x 3), as in the issue.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.channels.sim_coupling import inter_layer_los, rayleigh_sommerfeld, rician_coupling
from jisac.channels.sim_links import (
    bs_to_sim_channel,
    path_loss,
    sim_geometry,
    sim_to_user_channel,
    sim_to_users_channels,
)
from jisac.geometry import upa_element_positions
from jisac.hardware.sim import (
    phases_to_unit_modulus,
    quantization_indices,
    quantize_phases,
    sim_cascade,
    sim_effective_channels,
    unit_modulus_to_phases,
)

M, L, N, NR = 4, 2, 9, 3
LAM = 299_792_458.0 / 28e9


def _crandn(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_cascade_matches_explicit_products(rng, n_layers):
    theta = rng.uniform(0, 2 * np.pi, (n_layers, N))
    h1 = _crandn(rng, N, M)
    hi = _crandn(rng, n_layers - 1, N, N)
    ref = np.diag(np.exp(1j * theta[0])) @ h1
    for l in range(1, n_layers):
        ref = np.diag(np.exp(1j * theta[l])) @ hi[l - 1] @ ref
    got = np.asarray(sim_cascade(jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi)))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # end-to-end rows h_eff = G^H h, computed by the reverse scan
    h = _crandn(rng, 3, N)
    eff = np.asarray(sim_effective_channels(jnp.asarray(h), jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi)))
    ref_eff = np.array([ref.conj().T @ h[j] for j in range(3)])
    np.testing.assert_allclose(eff, ref_eff, rtol=1e-12, atol=1e-12 * np.abs(ref_eff).max())


def test_one_layer_sim_is_ris(rng):
    theta = rng.uniform(0, 2 * np.pi, (1, N))
    h1 = _crandn(rng, N, M)
    h = _crandn(rng, N)
    v = np.exp(1j * theta[0])
    g = np.asarray(sim_cascade(jnp.asarray(theta), jnp.asarray(h1), jnp.zeros((0, N, N), complex)))
    np.testing.assert_allclose(g, np.diag(v) @ h1, rtol=1e-13, atol=1e-13)
    # RIS cascaded-channel identity: h^H diag(v) H1 = v^T diag(h^*) H1, summed element by element
    ris = np.zeros(M, complex)
    for n in range(N):
        ris += v[n] * np.conj(h[n]) * h1[n]
    eff = np.asarray(sim_effective_channels(jnp.asarray(h[None]), jnp.asarray(theta), jnp.asarray(h1),
                                            jnp.zeros((0, N, N), complex)))[0]
    np.testing.assert_allclose(np.conj(eff), ris, rtol=1e-12, atol=1e-12)


def test_unit_modulus_roundtrip(rng):
    theta = rng.uniform(-np.pi, np.pi, (L, N))
    v = phases_to_unit_modulus(jnp.asarray(theta))
    np.testing.assert_allclose(np.abs(np.asarray(v)), 1.0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(unit_modulus_to_phases(v)), theta, atol=1e-13)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_quantize_in_set_and_nearest(rng, bits):
    theta = rng.uniform(-3 * np.pi, 3 * np.pi, (L, N))
    q = np.asarray(quantize_phases(jnp.asarray(theta), bits))
    levels = 2 * np.pi * np.arange(2**bits) / 2**bits
    for t, qt in zip(theta.ravel(), q.ravel()):
        # in the b-bit set
        assert np.min(np.abs(qt - levels)) < 1e-12
        # nearest on the circle (brute force over the set)
        circ = np.abs(np.angle(np.exp(1j * (t - levels))))
        assert abs(np.abs(np.angle(np.exp(1j * (t - qt)))) - circ.min()) < 1e-12
    idx = np.asarray(quantization_indices(jnp.asarray(theta), bits))
    np.testing.assert_allclose(2 * np.pi * idx / 2**bits, q, atol=1e-12)


def test_quantize_wraps_and_per_layer_bits():
    eps = 1e-3
    assert float(quantize_phases(jnp.asarray(2 * np.pi - eps), 2)) == 0.0
    theta = jnp.full((2, 3), 0.6)  # 1 bit {0, pi} -> 0; 3 bits, step pi/4 -> pi/4
    q = np.asarray(quantize_phases(theta, jnp.array([1, 3])))
    np.testing.assert_allclose(q[0], 0.0)
    np.testing.assert_allclose(q[1], np.pi / 4)


@pytest.mark.parametrize("convention", ["exp(+jwt)", "exp(-jwt)"])
def test_rayleigh_sommerfeld_vs_loop(convention):
    geo = sim_geometry(LAM, n_layers=2, n_rows=NR, n_cols=NR, bs_rows=1, bs_cols=M)
    rx, tx = np.asarray(geo.layers[1]), np.asarray(geo.layers[0])
    area = (LAM / 2) ** 2
    ref = np.zeros((N, N), complex)
    for n in range(N):
        for k in range(N):
            r = np.linalg.norm(rx[n] - tx[k])
            cos_chi = 5 * LAM / r  # layer spacing / r
            if convention == "exp(-jwt)":  # as printed by An et al. (JSAC 2023)
                ref[n, k] = area * cos_chi / r * (1 / (2 * np.pi * r) - 1j / LAM) * np.exp(2j * np.pi * r / LAM)
            else:
                ref[n, k] = area * cos_chi / r * (1 / (2 * np.pi * r) + 1j / LAM) * np.exp(-2j * np.pi * r / LAM)
    got = np.asarray(rayleigh_sommerfeld(geo.layers[1], geo.layers[0], LAM, time_convention=convention))
    np.testing.assert_allclose(got, ref, rtol=1e-11)
    stack = np.asarray(inter_layer_los(geo.layers, LAM, time_convention=convention))
    assert stack.shape == (1, N, N)
    np.testing.assert_allclose(stack[0], ref, rtol=1e-11)


def test_rayleigh_sommerfeld_phase_matches_green_function():
    """exp(+jwt) form: far from the source the kernel is j A cos(chi)/(lambda r) exp(-jkr), i.e. the
    same propagation phase as 004 eq. (6) rotated by the constant +pi/2 of the 1/(j lambda) factor."""
    tx = jnp.zeros((1, 3))
    rx = jnp.array([[0.0, 0.0, z] for z in (50 * LAM, 500 * LAM)])
    w = np.asarray(rayleigh_sommerfeld(rx, tx, LAM))[:, 0]
    gamma = np.asarray(bs_to_sim_channel(rx, tx, LAM))[:, 0]
    rel = np.angle(w / gamma)
    # exact phase of (1/(2 pi r) + j/lambda) is atan(k r): pi/2 - atan(1/(k r)) ~ pi/2 - 1/(k r)
    kr = 2 * np.pi * np.array([50.0, 500.0])
    np.testing.assert_allclose(rel, np.pi / 2 - np.arctan(1 / kr), atol=1e-12)


def test_rician_moments(key):
    """E[H] = sqrt(kappa) H_LoS and E|H|^2 = |H_LoS|^2 entrywise, from 4000 draws x 2 x 81 entries.

    Normalised samples x = H / H_LoS = sqrt(kappa) + sqrt(1-kappa) z, z ~ CN(0, 1): mean sqrt(kappa),
    Var(Re x) = (1-kappa)/2; |x|^2 has mean 1 and variance (1-kappa)^2 + 2 kappa (1-kappa).
    Assert 5-sigma bounds on the sample means (false-failure probability < 1e-6 each).
    """
    geo = sim_geometry(LAM, n_layers=3, n_rows=NR, n_cols=NR, bs_rows=1, bs_cols=M)
    h_los = inter_layer_los(geo.layers, LAM)  # (2, 9, 9)
    kappa = jnp.array([0.3, 0.8])
    draws = 4000
    hs = jax.jit(jax.vmap(lambda k: rician_coupling(k, h_los, kappa)))(jax.random.split(key, draws))
    x = np.asarray(hs / h_los[None])
    for l, kap in enumerate([0.3, 0.8]):
        xl = x[:, l].ravel()
        n = xl.size
        sd_mean = np.sqrt((1 - kap) / 2 / n)
        assert abs(xl.real.mean() - np.sqrt(kap)) < 5 * sd_mean
        assert abs(xl.imag.mean()) < 5 * sd_mean
        p = np.abs(xl) ** 2
        sd_p = np.sqrt(((1 - kap) ** 2 + 2 * kap * (1 - kap)) / n)
        assert abs(p.mean() - 1.0) < 5 * sd_p
    # kappa = 1 is pure LoS
    np.testing.assert_allclose(np.asarray(rician_coupling(key, h_los, 1.0)), np.asarray(h_los), rtol=1e-14)


def test_bs_to_sim_is_spherical_green_function():
    geo = sim_geometry(LAM, n_layers=L, n_rows=NR, n_cols=NR, bs_rows=2, bs_cols=2)
    h1 = np.asarray(bs_to_sim_channel(geo.layers[0], geo.bs, LAM))
    sim, bs = np.asarray(geo.layers[0]), np.asarray(geo.bs)
    for n in range(N):
        for m in range(M):
            r = np.linalg.norm(sim[n] - bs[m])
            np.testing.assert_allclose(h1[n, m], LAM / (4 * np.pi * r) * np.exp(-2j * np.pi * r / LAM), rtol=1e-12)


def test_bs_to_sim_far_field_limit_off_axis():
    """As the BS recedes along an oblique direction u, H1 tends to the plane-wave channel
    (lambda / 4 pi R) e^{-jkR} exp(-jk u.(p_n - c_sim)) exp(+jk u.(b_m - c_bs)); the error is bounded
    by the Fresnel term pi (D_sim^2 + D_bs^2) / (lambda R) (D = max element offset from the centre).
    The literal reading of printed eq. (5) (three propagation phases) fails this limit."""
    sim = np.asarray(upa_element_positions(NR, NR, LAM / 2)) - np.array([LAM / 2, LAM / 2, 0.0])
    bs0 = np.asarray(upa_element_positions(2, 2, LAM / 2)) - np.array([LAM / 4, LAM / 4, 0.0])
    u = np.array([np.sin(0.5) * np.cos(0.3), np.sin(0.5) * np.sin(0.3), np.cos(0.5)])  # BS -> SIM
    d_sim = np.max(np.linalg.norm(sim, axis=1))
    d_bs = np.max(np.linalg.norm(bs0, axis=1))
    k = 2 * np.pi / LAM
    for R in (1e2 * LAM, 1e4 * LAM):
        bs = bs0 - R * u  # BS centre at -R u, SIM centre at the origin
        h1 = np.asarray(bs_to_sim_channel(jnp.asarray(sim), jnp.asarray(bs), LAM))
        plane = (LAM / (4 * np.pi * R) * np.exp(-1j * k * R)
                 * np.exp(-1j * k * sim @ u)[:, None] * np.exp(1j * k * bs0 @ u)[None, :])
        bound = np.pi * (d_sim**2 + d_bs**2) / (LAM * R) + 2 * (d_sim + d_bs) / R  # phase + amplitude
        err = np.max(np.abs(h1 - plane)) / (LAM / (4 * np.pi * R))
        assert err < bound
        literal = h1 * np.exp(-2j * k * np.linalg.norm(sim[:, None, :] - bs[None, :, :], axis=-1))
        plane3 = plane * np.exp(-2j * k * R) * np.exp(-2j * k * sim @ u)[:, None] * np.exp(2j * k * bs0 @ u)[None, :]
        # the literal form has three times the phase slope: it is not the plane-wave channel
        lit_err = np.max(np.abs(literal - plane)) / (LAM / (4 * np.pi * R))
        assert lit_err > 0.5
        # ... it is a plane wave at wavelength lambda / 3, i.e. the wrong physics
        assert np.max(np.abs(literal - plane3)) / (LAM / (4 * np.pi * R)) < 3 * bound


def test_sim_to_user_far_field():
    """|h_n|^2 = 1/rho, and h^H is the far-field limit of the spherical Green's function from the
    last layer's elements (corner-referenced UPA, as in upa_steering) to a point at distance d."""
    pitch, azim, d = 0.7, -1.1, 30.0
    h = np.asarray(sim_to_user_channel(d, pitch, azim, NR, NR, 0.5, exponent=2.5, d0=1.0))
    rho = d**2.5
    np.testing.assert_allclose(np.abs(h) ** 2, 1 / rho, rtol=1e-12)
    np.testing.assert_allclose(float(path_loss(d, 2.5, 1.0)), rho, rtol=1e-14)
    pos = np.asarray(upa_element_positions(NR, NR, LAM / 2))
    u = np.array([np.sin(pitch) * np.cos(azim), np.sin(pitch) * np.sin(azim), np.cos(pitch)])
    r = np.linalg.norm(d * u[None, :] - pos, axis=1)
    green = np.exp(-2j * np.pi * (r - d) / LAM)  # propagation phase relative to the reference element
    bound = np.pi * np.max(np.sum(pos**2, axis=1)) / (LAM * d)  # Fresnel phase bound
    assert np.max(np.abs(np.conj(h) * np.sqrt(rho) - green)) < bound
    hs = np.asarray(sim_to_users_channels(jnp.array([d, 2 * d]), jnp.array([pitch, 0.1]), jnp.array([azim, 0.2]),
                                          NR, NR))
    np.testing.assert_allclose(hs[0], h, rtol=1e-13)
    assert hs.shape == (2, N)
