import pickle, yaml, jax, numpy as np, jax.numpy as jnp, time, sys
jax.config.update("jax_enable_x64", True)
from jisac import config as C
from jisac.algorithms.sim_lbcd import block_b as bb
src = sys.argv[1]
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
s = C.job_from_dict(cfg).scenario
dd = pickle.load(open(__import__("os").path.join(__import__("os").path.dirname(__import__("os").path.abspath(__file__)), "bfail.pkl"), "rb"))
design = jax.tree_util.tree_map(jnp.asarray, dd["design"]); system = jax.tree_util.tree_map(jnp.asarray, dd["system"])
kw = dd["kw"]; print("kw", {k: v for k, v in kw.items() if k != "key"})
for label, extra in [("as run", {}), ("lmi_scaled", {"lmi_scaled": True}), ("C=0", {"outage_couplings": 0}),
                     ("non-robust", {"robust": False}), ("full space", {"subspace_dim": None})]:
    t = time.time()
    _, info = bb.beamforming_block(system, design, s, **{**kw, **extra})
    print(label, info["status"], [(a, b[:70], round(c, 1)) for a, b, c in info["attempts"]], "slack", None if info.get("outage_slack") is None else np.round(info["outage_slack"], 3), round(time.time()-t, 1), flush=True)
