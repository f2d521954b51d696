import pickle, yaml, jax, numpy as np, jax.numpy as jnp, sys, time
jax.config.update("jax_enable_x64", True)
from jisac import config as C
from jisac.algorithms.sim_lbcd import block_b as bb
import cvxpy as cp
src = sys.argv[1]
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
s = C.job_from_dict(cfg).scenario
dd = pickle.load(open(__import__("os").path.join(__import__("os").path.dirname(__import__("os").path.abspath(__file__)), "bfail.pkl"), "rb"))
design = jax.tree_util.tree_map(jnp.asarray, dd["design"]); system = jax.tree_util.tree_map(jnp.asarray, dd["system"])
_, hu, he = bb._effective(system, design); hu = np.asarray(hu); K, M = hu.shape
W = np.asarray(design.W); Z = np.asarray(design.R_AN); p0 = np.sum(abs(W)**2)+np.trace(Z).real
Wd, Zd = W/np.sqrt(p0), Z/p0
eps0 = np.asarray(dd["kw"]["eps_csi"]); tau0 = float(design.tau[0]); gamma = 10**(s.sinr_min_db/10)
print("tau0", tau0, "eps0/||h||", eps0/np.linalg.norm(hu, axis=1), "phase_time", s.phase_time)
for tau in (0.05, 0.1, 0.2, 0.4, 0.8):
    eps = eps0*np.sqrt(tau0/tau)
    pm = []
    for k in range(K):
        wk = Wd[:, k:k+1]
        Q = wk@wk.conj().T - gamma*(Wd@Wd.conj().T - wk@wk.conj().T + Zd)
        m = float(bb.ball_min_quadratic(jnp.asarray(Q), jnp.asarray(hu[k]), eps[k]))
        pm.append(gamma*s.noise/m if m > 0 else np.inf)
    # min-power robust SDR (beams free), powers in W
    sc = 1/np.sqrt(s.noise); h = hu*sc; e = eps*sc
    V = [cp.Variable((M,M), hermitian=True) for _ in range(K)]
    cons = [v >> 0 for v in V]
    for k in range(K):
        Q = V[k] - gamma*sum(V[j] for j in range(K) if j!=k)
        lam = cp.Variable(nonneg=True); hk = h[k].reshape(M,1)
        corner = cp.real(hk.conj().T @ Q @ hk) - gamma - lam*e[k]**2
        lmi = cp.bmat([[Q + lam*np.eye(M), Q@hk],[hk.conj().T@Q, cp.reshape(corner,(1,1), order="F")]])
        cons.append(0.5*(lmi+lmi.H) >> 0)
    prob = cp.Problem(cp.Minimize(cp.real(sum(cp.trace(v) for v in V))), cons)
    t = time.time()
    try:
        prob.solve(solver="SCS", max_iters=20000); st, val = prob.status, prob.value
    except Exception as ex:
        st, val = f"error {ex}"[:80], None
    print(f"tau_ce {tau}: p_min(current beams) {np.round(pm, 5)} W; min-power SDR {st} {val} W ({time.time()-t:.0f}s)", flush=True)
