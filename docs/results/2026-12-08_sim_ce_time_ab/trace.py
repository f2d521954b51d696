"""8 Dec 2026: trace the `paper` start of an archived SIM job with Block D's ``sinr_floor``.

    python trace.py ARCHIVED_JOB_DIR C --blocks FLOOR ITERS [--dump]
        FLOOR: beams | sdr; ITERS: L-BCD iterations; --dump: write Block B's first failing
        input to bfail.pkl here and stop (the input of the analyse.py modes)
    logs: diag_dump.log (16 --blocks beams 2 --dump), diag_f.log (16 --blocks sdr 4)

Derived from ../2026-12-07_sim_coupling_rows_ab/diag_b.py:
Re-run the first iterations of an archived SIM job's `paper` start (its drop 0, job key) with
``outage_couplings = C`` and print what Blocks B (and D) return.

    python diag_b.py ARCHIVED_JOB_DIR C            # 3 iterations, B's status/attempts/slack
    python diag_b.py ARCHIVED_JOB_DIR C --blocks   # 2 iterations, B and D: budgets, tau, and on a
                                                   # B failure B again at p_comm = P_max and
                                                   # non-robust (diag_b_blocks.log)

Logs: diag_b16.log (C = 16), diag_b0.log (C = 0, reproduces the archived iterates),
diag_b_blocks.log (C = 16, --blocks)."""
import json, sys
import yaml, jax, numpy as np, equinox as eqx, jax.numpy as jnp
from jisac import config as C, runtime
from jisac.algorithms.sim_lbcd import lbcd as L, block_b
from jisac.algorithms.sim_lbcd.objective import Normalizers
from jisac.systems.sim import realize_sim_drops
runtime.configure()
jax.config.update("jax_enable_x64", True)
src, C_, wrap_blocks = sys.argv[1], int(sys.argv[2]), "--blocks" in sys.argv[3:]
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
job = C.job_from_dict(cfg); s = job.scenario
seed = json.load(open(f"{src}/metrics.json"))["job_seed"]
_, k_des, _ = jax.random.split(jax.random.PRNGKey(seed), 3)
system = realize_sim_drops(s, jax.random.PRNGKey(job.drops_seed()), job.n_drops)
sy = jax.tree_util.tree_map(lambda x: x[0], system)
k0 = jax.random.split(k_des, job.n_drops)[0]
blocks = L.default_blocks()
realB, realD = blocks["B"], blocks["D"]


def B_attempts(system, design, s, **k):
    d, info = realB(system, design, s, **k)
    print("B", info.get("status"), [(n, st[:90], round(t, 1)) for n, st, t in info["attempts"]],
          "slack", None if info.get("outage_slack") is None else np.round(info["outage_slack"], 3).tolist(),
          "surr_before", np.round(info.get("outage_surrogate_before", []), 3).tolist(), flush=True)
    return d, info


DUMP = "--dump" in sys.argv[3:]


def B_budget(system, design, s, **k):
    d, info = realB(system, design, s, **k)
    if DUMP and str(info.get("status")).startswith("solver_failed"):
        import os, pickle
        pickle.dump({"design": jax.tree_util.tree_map(np.asarray, design),
                     "system": jax.tree_util.tree_map(np.asarray, system), "kw": k},
                    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bfail.pkl"), "wb"))
        print("dumped", flush=True); raise SystemExit(0)
    print("B", info.get("status"), "P_b", info.get("power_budget", block_b.comm_power_budget(design, s)),
          "tau", np.round(np.asarray(design.tau), 3).tolist(), "p_s", float(design.p_sense), "p_c", float(design.p_comm), flush=True)
    if str(info.get("status")).startswith("solver_failed"):
        big = eqx.tree_at(lambda t: t.p_comm, design, jnp.asarray(s.p_bs_max, jnp.asarray(design.p_comm).dtype))
        print("   P_b if p_comm = P_max:", block_b.comm_power_budget(big, s), flush=True)
        _, i2 = realB(system, big, s, **k)
        print("   -> with the larger budget:", i2.get("status"), [(n, st[:60]) for n, st, _ in i2["attempts"]], flush=True)
        _, i3 = realB(system, design, s, **{**k, "robust": False})
        print("   -> non-robust at the same budget:", i3.get("status"), [(n, st[:60]) for n, st, _ in i3["attempts"]], flush=True)
    return d, info


def D_alloc(system, design, s, **k):
    d, info = realD(system, design, s, **k)
    print("D", info.get("status"), "p_min_sinr", info.get("p_comm_min_sinr"), "p_min_sdr", info.get("p_comm_min_sdr"), info.get("p_comm_min_sdr_status"),
          "p_c", float(d.p_comm), "tau", np.round(np.asarray(d.tau), 3).tolist(), "viol", {a: round(float(b), 4) for a, b in info.get("previous_violations", {}).items()}, flush=True)
    return d, info


if wrap_blocks:
    blocks["B"], blocks["D"] = B_budget, D_alloc
else:
    blocks["B"] = B_attempts
st = L.LbcdSettings(starts=("paper",), outage_couplings=C_, block_kwargs={"D": {"sinr_floor": sys.argv[4]}})
d, info = L.lbcd(sy, s, alpha=s.alpha, norm=Normalizers(3.7120564591921035, 9.805613503658067), robust=True,
                 key=k0, max_iter=int(sys.argv[5]), discretize=False, settings=st, blocks=blocks)
print(info["status"], info["utility"])
