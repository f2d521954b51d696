"""``scheme.shared_design``: one paper-004 design evaluated on every drop's coupling realisation.

The drops of a SIM job differ only in the Rician evaluation coupling (10); the shared mode
designs drop 0 once and evaluates and certifies that design on each drop. Checked here: the
design function runs once and with drop 0's key (so drop 0 is the per-drop mode's drop 0), every
drop carries the same design, and each drop's metrics are the design evaluated on *that* drop's
coupling (recomputed separately with ``evaluate_sim``), which differ between drops.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.config import job_from_dict
from jisac.designs.sim_lbcd import design_lbcd, run_drops
from jisac.evaluation.sim import evaluate_sim
from jisac.jobs import run_job
from jisac.scenarios import SimScenario
from jisac.schemes import LbcdParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM, small_sim_scenario_dict
from test_lbcd_baselines import stub_blocks  # noqa: F401 -- the fixture (identity blocks)


def _leaves_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_run_drops_designs_once_with_drop_zero_key():
    s = SimScenario(**SMALL_SIM)
    sysb = realize_sim_drops(s, jax.random.PRNGKey(0), 3)
    calls = []

    def one(sy, k, i):
        calls.append((i, np.asarray(k)))
        # a design that depends on the drop it is given and on its key
        return {"h": sy.h_inter_eval, "k": jax.random.normal(k, (2,))}, \
            {"status": "converged", "iterations": 3, "utility": 0.1 * (i + 1)}

    key = jax.random.PRNGKey(7)
    d_sh, inf_sh = run_drops(sysb, key, one, shared=True)
    assert [i for i, _ in calls] == [0]
    np.testing.assert_array_equal(calls[0][1], np.asarray(jax.random.split(key, 3)[0]))
    d_pd, inf_pd = run_drops(sysb, key, one, shared=False)
    assert [i for i, _ in calls[1:]] == [0, 1, 2]
    # drop 0 is the per-drop mode's drop 0; every drop carries drop 0's design
    for leaf_sh, leaf_pd in zip(jax.tree_util.tree_leaves(d_sh), jax.tree_util.tree_leaves(d_pd)):
        assert leaf_sh.shape[0] == 3
        for j in range(3):
            np.testing.assert_array_equal(leaf_sh[j], leaf_pd[0])
    assert not np.array_equal(d_pd["k"][0], d_pd["k"][1])      # per-drop designs do differ
    assert inf_sh["shared_design"] is True and inf_pd["shared_design"] is False
    assert inf_sh["utility"] == [0.1] * 3 and inf_sh["iterations"] == [3] * 3
    assert inf_sh["drops"][1:] == [{"design_of_drop": 0}] * 2
    assert len(inf_sh["details"]) == 3


def test_design_lbcd_shared_runs_one_lbcd(stub_blocks):
    s = SimScenario(**SMALL_SIM)
    sysb = realize_sim_drops(s, jax.random.PRNGKey(0), 3)
    kw = dict(max_iterations=2, r_max=2.0, crb_min=3.0)
    _, _ = design_lbcd(sysb, s, LbcdParams(**kw, shared_design=True), jax.random.PRNGKey(1))
    n_shared = sum(1 for n, _ in stub_blocks.calls if n == "discretize")
    stub_blocks.calls.clear()
    _, _ = design_lbcd(sysb, s, LbcdParams(**kw), jax.random.PRNGKey(1))
    n_per_drop = sum(1 for n, _ in stub_blocks.calls if n == "discretize")
    assert n_shared >= 1 and n_per_drop == 3 * n_shared


def test_job_evaluates_the_shared_design_on_each_coupling(stub_blocks):
    sc = {**small_sim_scenario_dict(), "max_iterations": 2}
    job = job_from_dict({"scenario": sc, "scheme": {"name": "lbcd", "shared_design": True},
                         "seed": 1, "n_drops": 3, "mc_draws": 64, "mc_chunk": 64})
    res = run_job(job)
    m, des = res.metrics, res.design
    for k in ("theta_comm", "theta_sense", "theta_ce", "W_RF", "W_BB", "R_AN", "tau"):
        assert des[k].shape[0] == 3
        for j in (1, 2):
            np.testing.assert_array_equal(des[k][j], des[k][0])
    assert m["design_info"]["shared_design"] is True
    assert m["lbcd"][1:] == [{"design_of_drop": 0}] * 2 and "norm" in m["lbcd"][0]
    assert len(m["certificate"]) == 3 and len(m["theory"]) == 3 and len(m["utility"]) == 3
    # each drop's metrics: drop 0's design on that drop's coupling (the same drops the job drew)
    s = job.scenario
    sysb = realize_sim_drops(s, jax.random.PRNGKey(job.drops_seed()), 3)
    d0 = jax.tree_util.tree_map(lambda x: x[0], _design_from_arrays(des))
    ssr = []
    for j in range(3):
        sy = jax.tree_util.tree_map(lambda x: x[j], sysb)
        ref = evaluate_sim(sy, d0, s)
        np.testing.assert_allclose(m["drops"][j]["sum_secrecy_rate"],
                                   float(ref["sum_secrecy_rate"]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m["drops"][j]["crb_total"], float(ref["crb_total"]),
                                   rtol=1e-9)
        ssr.append(m["drops"][j]["crb_total"])
    assert len(set(ssr)) == 3            # the couplings differ, and so do the evaluations
    np.testing.assert_allclose(m["crb_total"], np.mean(ssr), rtol=1e-12)


def _design_from_arrays(a):
    import dataclasses

    from jisac.designs.sim import SimDesign

    return SimDesign(**{f.name: jnp.asarray(a[f.name]) for f in dataclasses.fields(SimDesign)})


@pytest.mark.parametrize("fig", [f"sim_fig{k}" for k in range(1, 10)])
def test_figure_sweep_takes_lbcd_family_overrides(fig):
    """``-m +sweep=sim_figK scheme.shared_design=true ...``: Hydra composes the multirun's master
    config before the sweep picks each job's scheme, so the master needs an L-BCD-family scheme
    (the default ``mrt`` has no such key and the command failed before any job ran)."""
    import os

    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=os.path.abspath("conf"), version_base=None):
        master = compose("config", overrides=[f"+sweep={fig}", "scheme.shared_design=true"],
                         return_hydra_config=True)
        assert master.scheme.shared_design is True
        for name in str(master.hydra.sweeper.params.scheme).split(","):
            job = compose("config", overrides=[f"+sweep={fig}", f"scheme={name}",
                                                "scheme.shared_design=true"])
            assert job.scheme.name == name and job.scheme.shared_design is True
