import json, sys, time, yaml, jax, numpy as np
from jisac import config as C, runtime
from jisac.algorithms.sim_lbcd import lbcd as L, block_b
from jisac.algorithms.sim_lbcd.objective import Normalizers
from jisac.systems.sim import realize_sim_drops
runtime.configure()
jax.config.update("jax_enable_x64", True)
src = sys.argv[1]; C_ = int(sys.argv[2])
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
job = C.job_from_dict(cfg); s = job.scenario
seed = json.load(open(f"{src}/metrics.json"))["job_seed"]
_, k_des, _ = jax.random.split(jax.random.PRNGKey(seed), 3)
system = realize_sim_drops(s, jax.random.PRNGKey(job.drops_seed()), job.n_drops)
sy = jax.tree_util.tree_map(lambda x: x[0], system)
k0 = jax.random.split(k_des, job.n_drops)[0]
blocks = L.default_blocks()
realB = blocks["B"]
def B(*a, **k):
    d, info = realB(*a, **k)
    print("B", info.get("status"), [(n, st[:90], round(t, 1)) for n, st, t in info["attempts"]],
          "slack", None if info.get("outage_slack") is None else np.round(info["outage_slack"], 3).tolist(),
          "surr_before", np.round(info.get("outage_surrogate_before", []), 3).tolist(), flush=True)
    return d, info
blocks["B"] = B
st = L.LbcdSettings(starts=("paper",), outage_couplings=C_)
d, info = L.lbcd(sy, s, alpha=s.alpha, norm=Normalizers(3.7120564591921035, 9.805613503658067), robust=True,
                 key=k0, max_iter=3, discretize=False, settings=st, blocks=blocks)
print(info["status"], info["utility"])
