"""Strict test settings (STYLE.md #10): x64 for references, rank promotion raises, fixed keys.

x64 is switched on here, once, for the test session; the library itself never flips global
precision flags at import.
"""

import os
import platform

# One XLA CPU instruction set for the suite, whatever the host: measured 8 Dec 2026, the
# `robust_continuous` fixture of test_lbcd_driver.py (3 L-BCD iterations on the small drop, a
# chaotic path of SDR + randomisation steps) ends with per-user secrecy outage [0, 1] when XLA
# generates AVX-512 code and [0, 0] with AVX2; the CI machine and the development machines differ
# in this. Set before jax creates its CPU backend; an XLA_FLAGS that already names an ISA wins.
if platform.machine().lower() in ("x86_64", "amd64") and \
        "xla_cpu_max_isa" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=AVX2").strip()

import jax  # noqa: E402
import numpy as np
import pytest

from jisac import runtime

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
# the entry points' speed settings (one BLAS thread, JAX compilation cache; jisac.runtime):
# the suite runs the same small kernels as the sweeps. No normaliser disk cache: every test
# computes what it checks (tests that exercise the cache point it at a temporary directory).
os.environ.setdefault("JISAC_RESULT_CACHE", "off")
runtime.configure()


@pytest.fixture
def key():
    return jax.random.PRNGKey(20261123)


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


# Tolerances per dtype (jax-md test_util style): float64 paths are compared near machine
# precision, float32 paths at single-precision round-off times a modest growth factor.
TOL = {np.float64: 1e-10, np.float32: 1e-4}
