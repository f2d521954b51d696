"""Re-evaluate saved paper-004 designs over fresh inter-layer coupling realisations.

    python -m experiments.recertify RUN_DIR [RUN_DIR ...] [--write]

A SIM job's certificate (``metrics.json`` -> ``certificate[i]``) holds at its drop's *one*
realisation of the Rician inter-layer model (004 eq. (10)); the design only saw the LoS model
(9). Jobs since 7 Dec 2026 also report ``certificate[i]["coupling"]``
(:func:`jisac.evaluation.sim.coupling_certificate`: per-user outage averaged over 32 fresh
realisations and the fraction of them at which the design meets ``eps_out``). This command
computes the same block for a run directory written before that, from its ``config.yaml`` and
``design.npz``: the drops are re-realised and the key derived from the seeds the job recorded in
``metrics.json`` (drops seed, job seed), so a current job with that config reports the same
numbers. Prints one JSON
object per run directory; ``--write`` also stores it as ``coupling_certificate.json`` there.

Not for ``sl_ris`` (one layer: no inter-layer coupling, the certificate already covers it) nor
for paper-000 runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

from jisac.config import job_from_dict
from jisac.designs.sim import SimDesign
from jisac.io import load_run, to_jsonable, write_json_atomic

_FIELDS = ("theta_comm", "theta_sense", "theta_ce", "W_RF", "W_BB", "R_AN", "tau", "p_sense",
           "p_comm")


def recertify(run_dir: str | Path) -> list[dict]:
    """The ``coupling`` certificate block of every drop of one SIM run directory."""
    from jisac.jobs import certificate_keys, sim_coupling_block
    from jisac.systems.sim import realize_sim_drops

    config, metrics, arrays = load_run(run_dir)
    if config is None or not arrays:
        raise ValueError(f"{run_dir}: needs config.yaml and design.npz")
    job = job_from_dict({k: v for k, v in config.items() if k != "job_seed"})
    if job.scenario.kind != "sim_isac":
        raise ValueError(f"{run_dir}: scenario {job.scenario.kind!r}; only sim_isac runs")
    if job.scheme.name == "sl_ris":
        raise ValueError(f"{run_dir}: sl_ris designs have one layer (no inter-layer coupling)")
    if job.x64:
        jax.config.update("jax_enable_x64", True)
    missing = [f for f in _FIELDS if f not in arrays]
    if missing:
        raise ValueError(f"{run_dir}: design.npz lacks {missing}")
    # the seeds the job ran with (recorded), not today's hash of its config: keys added to the
    # config schema since would otherwise move the drop
    rec = metrics or {}
    drops_seed = int(rec.get("drops_seed", job.drops_seed()))
    job_seed = int(rec.get("job_seed", config.get("job_seed", job.job_seed())))
    s = job.scenario
    system = realize_sim_drops(s, jax.random.PRNGKey(drops_seed), job.n_drops)
    design = SimDesign(**{f: jnp.asarray(arrays[f]) for f in _FIELDS})
    out = []
    for i, k in enumerate(certificate_keys(job_seed, job.n_drops)):
        pick = lambda t: jax.tree_util.tree_map(lambda x: x[i], t)            # noqa: E731
        out.append(sim_coupling_block(pick(system), pick(design), s, k, job.mc_draws,
                                      job.mc_chunk))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.recertify", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--write", action="store_true",
                    help="also write coupling_certificate.json into each run directory")
    a = ap.parse_args(argv)
    rc = 0
    for d in a.run_dirs:
        try:
            res = recertify(d)
        except (ValueError, FileNotFoundError) as e:
            print(f"recertify: {e}", file=sys.stderr)
            rc = 2
            continue
        obj = {"run_dir": str(d), "coupling": to_jsonable(res)}
        print(json.dumps(obj))
        if a.write:
            write_json_atomic(Path(d) / "coupling_certificate.json", obj)
    return rc


if __name__ == "__main__":
    sys.exit(main())
