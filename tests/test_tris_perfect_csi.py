"""Perfect-CSI variant of the TRIS-RSMA blocks (scheme perfect_csi, 000 Fig. 8).

With every error set at zero the Bernstein outage surrogates (51)-(53), (58)-(60) degenerate to
deterministic rate conditions; they are built as such (jisac.convex.bernstein, ``deterministic``).
At K = 3, M = 2, N = 9 the old full form (Q_r = 0 * (...)) could not even be canonicalised
(cvxpy COO backend, "truth value of an array ... is ambiguous"), which stopped every Table I
perfect_csi job. Checked here: both blocks build at that shape, and the B2 solution honours the
deterministic LU row: the phase-1 B1 design has nominal private SINR >= 2^{r_s} - 1, and B2's
thresholds satisfy u_k <= nominal SINR (both computed with NumPy).
"""

import jax
import numpy as np
import pytest

from jisac.algorithms.tris_rsma import _b1_inputs, _b2_inputs
from jisac.convex.tris_blocks import build_p21_margin_slot
from jisac.convex.tris_p22 import build_p22_slot
from jisac.evaluation.tris_robust import slot_data
from jisac.scenarios import TrisScenario
from jisac.systems.tris import realize_tris_drops


@pytest.fixture(scope="module")
def perfect():
    jax.config.update("jax_enable_x64", True)
    s = TrisScenario(n_rows=3, n_cols=3, n_elements=9)          # Table I users: K = 3, M = 2
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_tris_drops(s, jax.random.PRNGKey(0), 1))
    d = slot_data(sy, s, 1, robust=False, detection=False)
    assert d.sigma_e == 0.0 and not np.any(d.E_sqrt)
    return s, d


def test_blocks_build_and_b2_keeps_the_nominal_rate_row(perfect):
    s, d = perfect
    K, N = d.h.shape
    M = d.g.shape[0]
    kw = dict(p_out_lu=d.p_out_lu, p_out_iu=d.p_out_iu, sigma_e=d.sigma_e, rate_e=d.r_e,
              E_sqrt=d.E_sqrt, power=d.power)
    b1 = build_p21_margin_slot(N, K, M, layer=False, **kw)
    assert b1.problem.is_dpp()
    b2 = build_p22_slot(N, K, M, p_out_lu=d.p_out_lu, sigma_e=d.sigma_e, r_s=d.r_s, layer=False)
    # phase-1 B1 (the driver's initialisation): its deterministic LU row asks for the nominal
    # private SINR >= u = 2^{r_s} - 1
    u0 = 2.0**s.r_s - 1.0
    tg0 = dict(chi=np.zeros(K), iota=np.full(K, 1e3), u=np.full(K, u0), gamma_c0=0.0)
    W, _ = b1(solver_args={"solve_method": "Clarabel"}, **_b1_inputs(d, tg0))
    W = np.asarray(W)

    def sinr(k):
        S = W[1:].sum(0) - W[1 + k]
        return (np.real(d.h[k].conj() @ W[1 + k] @ d.h[k])
                / (np.real(d.h[k].conj() @ S @ d.h[k]) + d.noise[k]))

    assert all(sinr(k) >= u0 * (1 - 1e-6) for k in range(K))
    out = b2(solver_args={"solve_method": "Clarabel"}, **_b2_inputs(d, W, np.zeros(K)))
    u = np.asarray(out["u"])
    assert np.all(np.isfinite(u))
    for k in range(K):
        assert u[k] <= sinr(k) * (1 + 1e-6) + 1e-9
