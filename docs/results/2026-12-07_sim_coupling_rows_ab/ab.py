"""Print the paired A/B table of docs/derivations/sim_lbcd.md (run from anywhere)."""
import json, sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
R = str(HERE.parent)
pairs = [
 ("Fig. 8, E = 4 (20 drops)", str(HERE / "fig8/e4_c16"), R + "/2026-12-07_sim_fig8_e4_coupling_polish/n_drops=20,scheme.crb_min=9.805613503658067,scheme.r_max=3.7120564591921035,scheme.shared_design=True,scheme=lbcd,sim_eves=e4"),
 ("Fig. 8, E = 3", str(HERE / "fig8/e3_c16"), R + "/2026-12-07_sim_fig8_e3/n_drops=10,scheme.shared_design=True,scheme=lbcd,sim_eves=e3"),
 ("Fig. 1, 40 dBm", str(HERE / "fig1/p40_c16"), R + "/2026-12-07_sim_fig1_powers/n_drops=10,scenario.p_bs_max_dbm=40.0,scheme.shared_design=True,scheme=lbcd"),
 ("Fig. 1, 35 dBm", str(HERE / "fig1/p35_c16"), R + "/2026-12-07_sim_fig1_powers/n_drops=10,scenario.p_bs_max_dbm=35.0,scheme.shared_design=True,scheme=lbcd"),
 ("Fig. 3, eps 0.05", str(HERE / "fig3/eps005_c16"), R + "/2026-12-07_sim_fig3_bounds/n_drops=10,scenario.csi_error_bound=0.05,scheme.crb_min=9.805613503658067,scheme.r_max=16.719718438460344,scheme.shared_design=True,scheme=lbcd"),
 ("Fig. 3, eps 0.1", str(HERE / "fig3/eps010_c16"), R + "/2026-12-07_sim_fig3_bounds/n_drops=10,scenario.csi_error_bound=0.1,scheme.crb_min=9.805613503658067,scheme.r_max=16.719718438460344,scheme.shared_design=True,scheme=lbcd"),
]
def s(p):
    m = json.load(open(p + "/metrics.json"))
    cert = m["certificate"]
    nc = sum(bool(c["certified"]) for c in cert)
    pr = np.mean([c["coupling"]["pass_rate"] for c in cert if c.get("coupling")])
    worst = np.mean([max(c["secrecy_outage"]) for c in cert])
    u = m["utility"]; u = u[0] if isinstance(u, list) else u
    ss = np.mean(m["sum_secrecy_rate"]); cr = np.mean(m["crb_total"])
    lb = m["lbcd"][0]
    return f"{nc}/{len(cert)} | {pr:.2f} | {worst:.3f} | {u:.3f} | {ss:.2f} | {cr:.1f} | {lb['start']} | {round(m['wall_time_s'])}"
for name, new, old in pairs:
    print(f"| {name} | paper model | {s(old)} |")
    print(f"| | coupling rows | {s(new)} |")
