"""8 Dec 2026: Block B's first failing input of the E = 4 `paper` start (bfail.pkl, written by
``trace.py ... --dump``) analysed three ways.

    python analyse.py ARCHIVED_JOB_DIR variants   # B as run, scaled LMI, C = 0, non-robust, full space (analyse_bfail2.log)
    python analyse.py ARCHIVED_JOB_DIR ballmin    # D's S-lemma bound vs the primal minimiser and samples (analyse_bfail3.log)
    python analyse.py ARCHIVED_JOB_DIR tau        # beams' SINR power and the least SDR power vs tau_ce (analyse_tau.log)
"""
import os, pickle, sys, time
import yaml, jax, numpy as np, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
from jisac import config as C
from jisac.algorithms.sim_lbcd import block_b as bb

src, mode = sys.argv[1], sys.argv[2]
cfg = yaml.safe_load(open(f"{src}/config.yaml")); cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
s = C.job_from_dict(cfg).scenario
dd = pickle.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bfail.pkl"), "rb"))
design = jax.tree_util.tree_map(jnp.asarray, dd["design"]); system = jax.tree_util.tree_map(jnp.asarray, dd["system"])


def variants():
    kw = dd["kw"]; print("kw", {k: v for k, v in kw.items() if k != "key"})
    for label, extra in [("as run", {}), ("lmi_scaled", {"lmi_scaled": True}), ("C=0", {"outage_couplings": 0}),
                         ("non-robust", {"robust": False}), ("full space", {"subspace_dim": None})]:
        t = time.time()
        _, info = bb.beamforming_block(system, design, s, **{**kw, **extra})
        print(label, info["status"], [(a, b[:70], round(c, 1)) for a, b, c in info["attempts"]], "slack", None if info.get("outage_slack") is None else np.round(info["outage_slack"], 3), round(time.time()-t, 1), flush=True)


def ballmin():
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


def tau():
    import cvxpy as cp
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


{"variants": variants, "ballmin": ballmin, "tau": tau}[mode]()
