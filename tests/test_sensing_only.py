"""The sensing-only design behind CRB_min (paper 004, Sec. II-F; jisac.algorithms.sim_lbcd.sensing_only).

References written here: the (tau_s, p_s) step against a brute-force grid over the sensing-only
frame, and the bound property CRB_min <= CRB_total of feasible ISAC designs (the initial design,
the MRT design, random feasible designs).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import lbcd as L
from jisac.algorithms.sim_lbcd.objective import crb_total
from jisac.algorithms.sim_lbcd.sensing_only import sensing_frame, sensing_only_design
from jisac.designs.sim import SimDesign
from jisac.scenarios import SimScenario
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM


@pytest.fixture(scope="module")
def setup():
    s = SimScenario(**SMALL_SIM)
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    return s, sy, L.initial_design(sy, s)


def _with(d, theta=None, tau_s=None, p_s=None):
    return SimDesign(d.theta_comm, d.theta_sense if theta is None else theta, d.theta_ce, d.W_RF,
                     d.W_BB, d.R_AN,
                     d.tau if tau_s is None else d.tau.at[1].set(tau_s),
                     d.p_sense if p_s is None else jnp.asarray(p_s, d.p_sense.dtype), d.p_comm)


def _ident(system, design, s, **kw):
    return design, {"status": "ok"}


def test_time_power_step_matches_grid(setup):
    """Block A replaced by the identity: the result is the closed-form (tau_s, p_s) at the initial
    phases. Brute force: 2001 tau_s values on the frame's range, p_s = min(P_max, E/(T tau_s))
    (the best power for each tau_s, since CRB ~ 1/p_s)."""
    s, sy, init = setup
    d, info = sensing_only_design(sy, s, init, block_a=_ident)
    assert info["status"] == "converged" and info["iterations"] == 0
    lo, hi, _ = sensing_frame(s)
    assert lo <= float(d.tau[1]) <= hi + 1e-12
    assert float(d.tau[1]) * float(d.p_sense) * s.t_slot <= s.energy_budget * (1 + 1e-9)
    assert float(d.p_sense) <= s.p_bs_max * (1 + 1e-12)
    grid = np.linspace(lo, hi, 2001)
    p_grid = np.minimum(s.p_bs_max, s.energy_budget / (s.t_slot * grid))
    crb = jax.jit(jax.vmap(lambda t, p: crb_total(sy, _with(init, tau_s=t, p_s=p), s)))
    vals = np.asarray(crb(jnp.asarray(grid, init.tau.dtype), jnp.asarray(p_grid, init.tau.dtype)))
    got = float(crb_total(sy, d, s))
    assert got <= vals.min() * (1 + 1e-9)
    assert got >= vals.min() * (1 - 1e-3)       # the grid is fine enough to come close
    assert info["crb_history"] == [pytest.approx(got, rel=1e-12)]


def test_real_block_a_decreases_and_bounds_feasible_designs(setup):
    s, sy, init = setup
    d, info = sensing_only_design(sy, s, init)
    h = np.asarray(info["crb_history"])
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) < 0)
    assert info["iterations"] >= 1 and h[-1] < 0.99 * h[0]     # the phases do move the CRB
    crb_min = float(crb_total(sy, d, s))
    assert crb_min == pytest.approx(h[-1], rel=1e-12)
    # the design is the sensing-only frame: no communication power, (23h) trivially
    np.testing.assert_array_equal(np.asarray(d.theta_comm), np.asarray(d.theta_sense))
    assert float(d.p_comm) == 0.0 and float(jnp.sum(jnp.abs(d.W_BB))) == 0.0
    v = L.constraint_violations(d, s)
    assert v["time"] <= 1e-12 and v["energy"] <= 1e-9 and v["tau_bounds"] <= 1e-12
    # bound property against feasible ISAC designs: the initial design, and random designs with
    # random phases and random feasible frames (tau_ce, tau_c >= tau_min, sensing energy what the
    # communication phase leaves)
    assert crb_min <= float(crb_total(sy, init, s))
    rng = np.random.default_rng(0)
    _, _, t_bar = sensing_frame(s)
    for _ in range(20):
        theta = jnp.asarray(rng.uniform(0, 2 * np.pi, init.theta_sense.shape), init.tau.dtype)
        tau_c = rng.uniform(s.tau_min, min(s.tau_max, t_bar - s.tau_min))
        tau_s = rng.uniform(s.tau_min, min(s.tau_max, t_bar - tau_c))
        p_c = rng.uniform(0, min(s.p_bs_max, s.energy_budget / (s.t_slot * tau_c)))
        p_s = min(s.p_bs_max, (s.energy_budget / s.t_slot - tau_c * p_c) / tau_s)
        assert crb_min <= float(crb_total(sy, _with(init, theta, tau_s, p_s), s))


def test_normalizers_use_sensing_only_design(setup):
    """compute_normalizers: CRB_min is the sensing-only design's CRB (identity stubs for every
    block, so the alpha = 0 run keeps the initial design)."""
    s, sy, init = setup
    stubs = {k: _ident for k in "ABCDE"}
    stubs["discretize"] = lambda system, design, s, **kw: (design, {"status": "ok"})
    nrm, d0, d1, info = L.compute_normalizers(sy, s, max_iter=2, settings=L.LbcdSettings(
        outage_draws=0), blocks=stubs, use_cache=False)
    ref, _ = sensing_only_design(sy, s, init, block_a=_ident)
    assert nrm.crb_min == pytest.approx(float(crb_total(sy, ref, s)), rel=1e-12)
    assert info["norm_status"] == ["converged", "converged"]
    assert info["norm_crb_history"] == [pytest.approx(nrm.crb_min, rel=1e-12)]
