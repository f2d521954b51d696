"""Paired A/B of the L-BCD block order: the archived jobs of 2026-12-07_sim_coupling_rows_ab
(order ABCDE, coupling-aware outage rows C = 16) re-run with `order=EDABC` (Algorithm 1's box),
seeds pinned by that archive's pair.py:

    PYTHONPATH=<checkout> python docs/results/2026-12-07_sim_coupling_rows_ab/pair.py \
        docs/results/2026-12-07_sim_coupling_rows_ab/fig8/e4_c16 OUT order=EDABC

Prints one row per arm: certified drops | coupling pass rate | worst-user outage (mean over
drops) | U | sum secrecy (Rician) | CRB_total | returned start | job s, then each start's record.
Run from anywhere."""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
AB = HERE.parent / "2026-12-07_sim_coupling_rows_ab"
ns = {"__file__": str(AB / "ab.py")}
exec((AB / "ab.py").read_text().split("for name, new, old in pairs")[0], ns)   # its s(dir)

for name, old, new in [("E = 4, 20 drops", AB / "fig8/e4_c16", HERE / "e4_c16_edabc"),
                       ("E = 3, 10 drops", AB / "fig8/e3_c16", HERE / "e3_c16_edabc")]:
    if not (new / "metrics.json").exists():
        continue
    print(f"| {name} | ABCDE (archived) | {ns['s'](str(old))} |")
    print(f"| | EDABC | {ns['s'](str(new))} |")
    for arm, d in (("ABCDE", old), ("EDABC", new)):
        for st in json.load(open(d / "metrics.json"))["lbcd"][0]["starts"]:
            print(f"    {arm} {st['start']}: {st['status']}, {st['iterations']} it., "
                  f"U {st['utility']:.3f}, outage {st['outage']}")
