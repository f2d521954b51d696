"""Paired A/B: re-run an archived SIM job with one scheme key changed, its job/design seeds
pinned to the archived job's (so drops, solver keys and certificate keys are the same).
usage: python pair.py ARCHIVED_RUN_DIR OUT_DIR key=value [key=value ...]  (scheme keys)"""
import json, sys
import yaml
from jisac import config as C
from experiments import sweep

src, out, *kv = sys.argv[1:]
cfg = yaml.safe_load(open(f"{src}/config.yaml"))
seed = json.load(open(f"{src}/metrics.json"))["job_seed"]
cfg = {k: v for k, v in cfg.items() if k in C.TOP_LEVEL_KEYS}
for item in kv:
    k, v = item.split("=", 1)
    cfg["scheme"][k] = yaml.safe_load(v)
C.JobConfig.job_seed = lambda self: seed
C.JobConfig.design_seed = lambda self: seed
from jisac import runtime
runtime.configure()
m = sweep.run(cfg, out)
print(json.dumps({"status": m.get("status"), "job_seed": m.get("job_seed")}))
