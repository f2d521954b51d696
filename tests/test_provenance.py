"""jisac.provenance: the record of what computed a result (code, libraries, XLA flags, CPU)."""

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest

from jisac import provenance

REPO = Path(__file__).resolve().parent.parent


def test_environment_is_json_and_matches_the_process():
    env = provenance.environment()
    assert json.loads(json.dumps(env)) == env            # metrics.json must hold it as is
    assert env["versions"]["jax"] == jax.__version__
    assert env["versions"]["numpy"] == np.__version__
    assert env["versions"]["cvxpy"] == importlib.metadata.version("cvxpy")
    assert env["jax_backend"] == jax.default_backend()
    assert env["jax_devices"] == sorted({d.device_kind for d in jax.devices()})
    assert env["jax_enable_x64"] == bool(jax.config.jax_enable_x64)
    assert env["xla_flags"] == os.environ.get("XLA_FLAGS", "")


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux /proc/cpuinfo")
def test_cpu_isa_is_what_proc_cpuinfo_lists():
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(("flags", "Features")):
            flags = set(line.split(":", 1)[1].split())
            break
    isa = provenance.cpu_info()["isa"]
    assert isa == [f for f in provenance.ISA_FLAGS if f in flags]


def test_code_version_names_the_checkout():
    code = provenance.code_version()
    assert len(code["source_sha1"]) == 40
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout")
    assert code["git_commit"] == git.stdout.strip()
    assert isinstance(code["git_dirty"], bool)


def test_source_digest_changes_with_the_package_source(tmp_path, monkeypatch):
    # the digest covers every .py file of the package: a copy with one byte changed differs
    import shutil

    pkg = tmp_path / "jisac"
    shutil.copytree(REPO / "jisac", pkg, ignore=shutil.ignore_patterns("__pycache__"))

    def digest(root):
        monkeypatch.setattr(provenance, "_ROOT", root)
        monkeypatch.setattr(provenance, "_REPO", tmp_path)
        provenance.code_version.cache_clear()
        try:
            return provenance.code_version()
        finally:
            provenance.code_version.cache_clear()

    a = digest(pkg)
    assert a["source_sha1"] == digest(pkg)["source_sha1"] and a["git_commit"] is None
    f = pkg / "units.py"
    f.write_text(f.read_text() + "\n")
    assert digest(pkg)["source_sha1"] != a["source_sha1"]
