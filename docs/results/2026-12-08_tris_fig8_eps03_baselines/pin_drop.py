"""Run another scheme on the drop of an archived paper-000 job: its config with the scheme
replaced (that scheme's defaults) and the channel drops pinned to the archived job's drops seed,
so the new job is paired with it. (Runs archived before 6 Dec 2026 hashed the whole scenario
into the drops seed; today's seed for the same config differs, docs/reproduction.md, Fig. 8.)
usage: PYTHONPATH=<checkout> python pin_drop.py ARCHIVED_RUN_DIR OUT_DIR SCHEME [scenario.KEY=VALUE ...]
(scenario overrides, e.g. scenario.eps_iu_factor=0.1: the same drop at another x of Fig. 8)"""
import json
import sys

import yaml

from jisac import config as C

src, out, scheme, *overrides = sys.argv[1:]
cfg = yaml.safe_load(open(f"{src}/config.yaml"))
drops_seed = json.load(open(f"{src}/metrics.json"))["drops_seed"]
cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
cfg["scheme"] = {"name": scheme}
for item in overrides:
    k, v = item.split("=", 1)
    section, key = k.split(".", 1)
    cfg[section][key] = yaml.safe_load(v)
C.JobConfig.drops_seed = lambda self: drops_seed
from experiments import sweep  # noqa: E402
from jisac import runtime  # noqa: E402

runtime.configure()
m = sweep.run(cfg, out)
print(json.dumps({"status": m.get("status"), "drops_seed": m.get("drops_seed"),
                  "job_seed": m.get("job_seed")}))
