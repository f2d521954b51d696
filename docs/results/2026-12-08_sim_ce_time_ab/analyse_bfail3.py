import pickle, yaml, jax, numpy as np, jax.numpy as jnp, sys
jax.config.update("jax_enable_x64", True)
from jisac import config as C
from jisac.algorithms.sim_lbcd import block_b as bb
src = sys.argv[1]
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
s = C.job_from_dict(cfg).scenario
dd = pickle.load(open(__import__("os").path.join(__import__("os").path.dirname(__import__("os").path.abspath(__file__)), "bfail.pkl"), "rb"))
design = jax.tree_util.tree_map(jnp.asarray, dd["design"]); system = jax.tree_util.tree_map(jnp.asarray, dd["system"])
_, hu, he = bb._effective(system, design); hu = np.asarray(hu)
W = np.asarray(design.W); Z = np.asarray(design.R_AN); p0 = np.sum(abs(W)**2)+np.trace(Z).real
Wd, Zd = W/np.sqrt(p0), Z/p0
eps = np.asarray(dd["kw"]["eps_csi"]); gamma = 10**(s.sinr_min_db/10); K = hu.shape[0]
for k in range(K):
    wk = Wd[:, k:k+1]
    Q = wk@wk.conj().T - gamma*(Wd@Wd.conj().T - wk@wk.conj().T + Zd)
    m = float(bb.ball_min_quadratic(jnp.asarray(Q), jnp.asarray(hu[k]), eps[k]))
    # exact trust-region: eigen, secular eq via dense mu grid + check with x*
    lam, U = np.linalg.eigh(Q); c = U.conj().T@hu[k]
    best = np.inf
    for mu in np.concatenate([np.geomspace(1e-30,1e10,20001)]) + max(0,-lam[0]):
        x = mu*c/(lam+mu); d = x - c
        if np.linalg.norm(d) <= eps[k]*(1+1e-9):
            best = min(best, float(np.real(np.sum(lam*abs(x)**2))))
    # random boundary samples
    rng = np.random.default_rng(0); dd_ = rng.standard_normal((20000, hu.shape[1]))+1j*rng.standard_normal((20000, hu.shape[1]))
    dd_ *= eps[k]/np.linalg.norm(dd_,axis=1,keepdims=True)
    hb = hu[k][None]+dd_; samp = np.real(np.einsum("sm,mn,sn->s", hb.conj(), Q, hb)).min()
    print(k, "ball_min", m, "primal(x*)", best, "sampled", samp, "h^HQh", float(np.real(hu[k].conj()@Q@hu[k])), "lam range", lam[0], lam[-1], "||h||", np.linalg.norm(hu[k]), "eps", eps[k])
