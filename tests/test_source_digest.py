"""``jisac.source_digest``: the normaliser disk cache's code key is the L-BCD module's import
closure, checked against the modules Python actually loads, and sensitive to exactly that
closure."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jisac.source_digest as sd

LBCD = "jisac.algorithms.sim_lbcd.lbcd"


def _rel(paths):
    return {str(p.relative_to(sd._ROOT)) for p in paths}


def test_closure_covers_what_python_loads():
    """Every jisac module a fresh interpreter has loaded after importing L-BCD is in the static
    closure (the closure holds more: the targets of imports inside functions that have not run)."""
    code = ("import sys, json, jisac.algorithms.sim_lbcd.lbcd as L\n"
            "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()\n"
            "                         if n.startswith('jisac') and getattr(m, '__file__', None))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True, cwd=Path(sd._ROOT).parent).stdout)
    closure = _rel(sd.source_closure(LBCD))
    missing = {str(Path(f).resolve().relative_to(sd._ROOT)) for f in loaded} - closure
    assert not missing
    # the blocks and models are in; the job layer, the scheme entry points and paper 000 are not
    assert {"algorithms/sim_lbcd/block_b.py", "algorithms/sim_lbcd/block_e.py", "manifold.py",
            "channels/sim_coupling.py", "metrics/crb.py", "evaluation/sim.py"} <= closure
    assert not {"jobs.py", "io.py", "designs/sim_lbcd.py", "algorithms/tris_rsma.py",
                "convex/tris_p22.py"} & closure


def test_digest_follows_the_closure_only(tmp_path, monkeypatch):
    root = tmp_path / "jisac"
    shutil.copytree(sd._ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sd, "_ROOT", root)
    sd.source_closure.cache_clear()
    try:
        d0 = sd.source_digest(LBCD)
        (root / "jobs.py").write_text((root / "jobs.py").read_text() + "\n# edit\n")
        sd.source_closure.cache_clear()
        assert sd.source_digest(LBCD) == d0
        f = root / "algorithms" / "sim_lbcd" / "block_b.py"
        f.write_text(f.read_text() + "\n# edit\n")
        sd.source_closure.cache_clear()
        assert sd.source_digest(LBCD) != d0
    finally:
        sd.source_closure.cache_clear()


def test_rejects_a_foreign_module():
    with pytest.raises(ValueError, match="not a module of the jisac package"):
        sd.source_closure("numpy.linalg")
