"""Small SIM-ISAC instances shared by the tests (M=4, L=2, N_l=9, K=2, E=1, T=1).

Not a test module: imported by the test files (pytest puts tests/ on sys.path).
"""

import jax

from jisac.algorithms.sim_lbcd import objective as ob
from jisac.designs.sim import design_mrt
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops

SMALL_SIM = dict(n_bs_antennas=4, bs_rows=2, n_rf_chains=2, n_layers=2, n_per_layer=9,
                 user_positions=((15.0, 0.0, 20.0), (25.0, 180.0, 30.0)),
                 eve_positions=((20.0, 0.0, 35.0),), target_positions=((20.0, 0.0, 10.0),),
                 target_velocities_mps=(4.0,), target_rcs_m2=(1.0,), sensing_snapshots=8)

# jitted once per process: eager evaluation of the jacfwd FIMs / the AM loop costs seconds
mrt = jax.jit(design_mrt, static_argnums=(1, 2))
realize = jax.jit(realize_sim_drops, static_argnums=(0, 2))
secrecy = jax.jit(ob.secrecy_throughput, static_argnames=("s", "model"))
crb = jax.jit(ob.crb_total, static_argnames=("s", "model"))


def mrt_setup(s, seed=7):
    """One drop of scenario ``s``, its MRT design and normalisers taken at that design."""
    sys = jax.tree_util.tree_map(lambda x: x[0], realize(s, jax.random.PRNGKey(seed), 1))
    d = mrt(sys, s, MrtParams())
    norm = ob.Normalizers(r_max=float(secrecy(sys, d, s)), crb_min=float(crb(sys, d, s)))
    return sys, d, norm


def mrt_instance(seed=3, an_fraction=0.2):
    """``(s, system, design, norm)``: one drop of ``SMALL_SIM`` (key ``seed``), its MRT design
    with an AN fraction and normalisers taken at that design (the Block-D test instance)."""
    from jisac.scenarios import SimScenario

    s = SimScenario(**SMALL_SIM)
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(seed), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=an_fraction))
    norm = ob.Normalizers(float(ob.secrecy_throughput(sys, d, s)), float(ob.crb_total(sys, d, s)))
    return s, sys, d, norm


def small_sim_scenario_dict() -> dict:
    """The paper-004 scenario config (conf/scenario/sim_isac.yaml) with ``SMALL_SIM`` over it,
    as plain YAML-like data (tuples -> lists): the ``scenario`` of a job dict."""
    from omegaconf import OmegaConf

    sc = OmegaConf.to_container(OmegaConf.load("conf/scenario/sim_isac.yaml"))
    sc.update({k: [list(p) for p in v] if isinstance(v, tuple) and v and isinstance(v[0], tuple)
               else (list(v) if isinstance(v, tuple) else v) for k, v in SMALL_SIM.items()})
    return sc
