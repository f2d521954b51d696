"""Config validation: bad input fails at start-up with the key and the allowed range."""

import pytest
from omegaconf import OmegaConf

from jisac.config import job_from_dict
from jisac.config_errors import ConfigError
from jisac.scenarios import SimScenario, TrisScenario, scenario_from_dict


def _cfg(kind="tris_rsma", **scenario_over):
    sc = OmegaConf.to_container(OmegaConf.load(f"conf/scenario/{kind}.yaml"))
    sc.update(scenario_over)
    return {"scenario": sc, "scheme": {"name": "mrt"}, "seed": 0}


def test_yaml_matches_dataclass_defaults():
    # The config files and the dataclass defaults describe the same paper scenarios.
    assert job_from_dict(_cfg()).scenario == TrisScenario()
    assert job_from_dict(_cfg("sim_isac")).scenario == SimScenario()


@pytest.mark.parametrize(
    "over, key, fragment",
    [
        ({"p_t_dbm": float("nan")}, "scenario.p_t_dbm", "finite"),
        ({"n_elements": 15}, "scenario.n_elements", "n_rows * n_cols"),
        ({"p_out_lu": 1.5}, "scenario.p_out_lu", "(0, 1)"),
        ({"p_out_iu": 0.0}, "scenario.p_out_iu", "(0, 1)"),
        ({"rcs_m2": -1.0}, "scenario.rcs_m2", "> 0"),
        ({"t_min_ms": 3.0, "n_slots": 5}, "scenario.t_total_ms", "n_slots * t_min_ms"),
        ({"t_max_ms": 0.1}, "scenario.t_max_ms", ">= t_min_ms"),
        ({"n_rows": 0, "n_elements": 0}, "scenario.n_rows", "integer"),
        ({"lu_positions": [[50.0, 22.5]]}, "scenario.lu_positions[0]", "distance_m"),
        ({"iu_distance_error_m": 70.0}, "scenario.iu_distance_error_m", "distance of IU"),
        ({"power_model": {"pa_efficiency": 0.3}}, "scenario.power_model.", "required"),
        ({"foo": 1}, "scenario.foo", "unknown key"),
    ],
)
def test_tris_bad_values_name_the_key(over, key, fragment):
    with pytest.raises(ConfigError) as e:
        job_from_dict(_cfg(**over))
    assert e.value.key.startswith(key)
    assert fragment in str(e.value)


@pytest.mark.parametrize(
    "over, key",
    [
        ({"n_rf_chains": 64}, "scenario.n_rf_chains"),
        ({"n_per_layer": 60}, "scenario.n_per_layer"),
        ({"eps_out": 1.0}, "scenario.eps_out"),
        ({"bs_rows": 5}, "scenario.bs_rows"),
        ({"alpha": 1.5}, "scenario.alpha"),
        ({"target_rcs_m2": [1.0]}, "scenario.target_rcs_m2"),
        ({"tau_min": 0.4}, "scenario.tau_min"),
        ({"energy_budget_uj": -1.0}, "scenario.energy_budget_uj"),
        ({"pilot_bandwidth_mhz": 0.0}, "scenario.pilot_bandwidth_mhz"),
        ({"pilot_bandwidth_mhz": float("nan")}, "scenario.pilot_bandwidth_mhz"),
    ],
)
def test_sim_bad_values_name_the_key(over, key):
    with pytest.raises(ConfigError) as e:
        job_from_dict(_cfg("sim_isac", **over))
    assert e.value.key == key


def test_unknown_scheme_lists_allowed_names():
    c = _cfg()
    c["scheme"] = {"name": "nonexistent"}
    with pytest.raises(ConfigError, match="allowed: \\['mrt'") as e:
        job_from_dict(c)
    assert e.value.key == "scheme.name"


def test_bad_top_level_values():
    for over, key in [({"seed": -1}, "seed"), ({"n_drops": 0}, "n_drops"), ({"bogus": 1}, "bogus"),
                      ({"x64": "yes"}, "x64")]:
        c = _cfg()
        c.update(over)
        with pytest.raises(ConfigError) as e:
            job_from_dict(c)
        assert e.value.key == key


def test_scheme_params_validated():
    c = _cfg()
    c["scheme"] = {"name": "mrt", "common_fraction": 1.2}
    with pytest.raises(ConfigError) as e:
        job_from_dict(c)
    assert e.value.key == "scheme.common_fraction"


def test_unknown_kind():
    with pytest.raises(ConfigError) as e:
        scenario_from_dict({"kind": "ris"})
    assert e.value.key == "scenario.kind"


def test_job_seed_depends_on_every_parameter_and_is_stable():
    a = job_from_dict(_cfg())
    b = job_from_dict(_cfg(p_t_dbm=1.0))
    assert a.job_seed() == job_from_dict(_cfg()).job_seed()
    assert a.job_seed() != b.job_seed()
    c = _cfg()
    c["seed"] = 1
    assert job_from_dict(c).job_seed() != a.job_seed()


def test_drops_seed_shared_across_schemes_only():
    """Schemes of one sweep point see the same channel drops (paired comparison); a different
    scenario, seed or drop count gets other drops; the job seed still differs per scheme."""
    a = job_from_dict(_cfg())
    c = _cfg()
    c["scheme"] = {"name": "rsma"}
    b = job_from_dict(c)
    assert a.drops_seed() == b.drops_seed() and a.job_seed() != b.job_seed()
    c2 = {**_cfg(), "mc_draws": 1000}
    assert job_from_dict(c2).drops_seed() == a.drops_seed()
    assert job_from_dict(_cfg(p_t_dbm=1.0)).drops_seed() != a.drops_seed()
    for k, v in (("seed", 1), ("n_drops", 3)):
        assert job_from_dict({**_cfg(), k: v}).drops_seed() != a.drops_seed()


def test_drops_seed_paired_along_the_sweep_axes():
    """In a figure sweep the points along ``sweep.x`` / ``sweep.series`` share their drops
    (common random numbers); any other scenario key still changes them."""
    sweep = {"name": "f", "x": "scenario.p_t_dbm", "series": ["scheme.name"]}

    def job(**over):
        return job_from_dict({**_cfg(**over), "sweep": sweep})

    a, b = job(), job(p_t_dbm=5.0)
    assert a.paired_scenario_keys() == ("p_t_dbm",)
    assert a.drops_seed() == b.drops_seed() and a.job_seed() != b.job_seed()
    assert job(eps_lu=0.05).drops_seed() != a.drops_seed()
    # outside a sweep the value counts, as in test_drops_seed_shared_across_schemes_only
    assert job_from_dict(_cfg()).drops_seed() != job_from_dict(_cfg(p_t_dbm=5.0)).drops_seed()
    # a series over a scenario key is paired too; a scheme-only axis pairs nothing more
    s2 = {"name": "f", "x": "scheme.name", "series": ["scenario.eps_iu_factor"]}
    c, d = ({**_cfg(eps_iu_factor=v), "sweep": s2} for v in (0.1, 0.3))
    assert job_from_dict(c).drops_seed() == job_from_dict(d).drops_seed()


def test_design_seed_ignores_only_the_phase_resolution():
    """Paper 004's phase resolution enters only the discretisation, so jobs that differ only in
    ``phase_bits`` share the design stream (and the cached continuous L-BCD); at the default
    resolution the design seed is the job seed; every other key still changes it."""
    def job(**over):
        return job_from_dict(_cfg("sim_isac", **over))

    a, b = job(), job(phase_bits=5)
    assert a.scenario.phase_bits == 3 and a.design_seed() == a.job_seed()
    assert b.design_seed() == a.design_seed() and b.job_seed() != a.job_seed()
    assert job(p_bs_max_dbm=20.0).design_seed() != a.design_seed()
    assert job(p_bs_max_dbm=20.0, phase_bits=5).design_seed() == job(p_bs_max_dbm=20.0).design_seed()
    t = job_from_dict(_cfg())                     # TRIS scenario: no such key
    assert t.design_seed() == t.job_seed()


def test_new_knob_at_its_default_keeps_archived_seeds():
    """``scheme.polish_rounds`` was added after the 7 Dec Sec.-V run was archived: its config
    (which lacks the key) still gives the job seed recorded in its metrics.json, with the key at
    its default too; any other value reseeds."""
    import json

    import yaml

    from jisac.config import TOP_LEVEL_KEYS

    run = "docs/results/2026-12-07_sim_secV_lbcd_alloc_fix"
    with open(f"{run}/config.yaml") as f:
        cfg = {k: v for k, v in yaml.safe_load(f).items() if k in TOP_LEVEL_KEYS}
    with open(f"{run}/metrics.json") as f:
        recorded = json.load(f)["job_seed"]
    assert "polish_rounds" not in cfg["scheme"]
    job = job_from_dict(cfg)
    assert job.scheme.polish_rounds == 3
    assert job.job_seed() == recorded == job.design_seed()
    for key, v, same in (("polish_rounds", 3, True), ("polish_rounds", 0, False),
                         ("polish_rounds", 1, False), ("shared_design", False, True),
                         ("shared_design", True, False), ("norm_starts", ["paper"], True),
                         ("norm_starts", ("paper",), True),
                         ("norm_starts", ["paper", "sensing"], False),
                         ("polish_screen", "coupling", True), ("polish_screen", "design", False),
                         ("outage_couplings", 0, True), ("outage_couplings", 16, False),
                         ("sinr_floor", "beams", True), ("sinr_floor", "sdr", False),
                         ("ce_time", "fixed", True), ("ce_time", "radius", False)):
        c = {**cfg, "scheme": {**cfg["scheme"], key: v}}
        assert (job_from_dict(c).job_seed() == recorded) is same


def test_archived_run_still_counts_as_finished():
    """Resume: a run directory written before the seed-neutral keys existed (its config.yaml
    lacks them) is the finished result of today's config with those keys at their defaults, and
    not of one that sets a key away from its default."""
    import yaml

    from experiments.sweep import stored_result
    from jisac.config import TOP_LEVEL_KEYS

    run = "docs/results/2026-12-07_sim_secV_lbcd_alloc_fix"
    with open(f"{run}/config.yaml") as f:
        cfg = {k: v for k, v in yaml.safe_load(f).items() if k in TOP_LEVEL_KEYS}
    assert not {"polish_rounds", "shared_design"} & set(cfg["scheme"])
    job = job_from_dict(cfg)
    prev = stored_result(run, job.to_dict(), job.job_seed(), job.drops_seed())
    assert prev is not None and prev["job_seed"] == job.job_seed()
    other = job_from_dict({**cfg, "scheme": {**cfg["scheme"], "shared_design": True}})
    assert stored_result(run, other.to_dict(), job.job_seed(), job.drops_seed()) is None


@pytest.mark.parametrize("bad", ["paper", [], ["paper", "paper"], ["svd"], None])
def test_norm_starts_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "sf", "norm_starts": bad}
    with pytest.raises(ConfigError, match="scheme.norm_starts"):
        job_from_dict(c)


def test_scheme_name_lists_match_the_driver():
    """``jisac.schemes`` validates L-BCD starts and polish screens against its own copies of the
    driver's name lists (the config layer does not import the solvers): they must agree."""
    from jisac import schemes
    from jisac.algorithms.sim_lbcd import lbcd

    assert schemes._LBCD_STARTS == lbcd.START_NAMES
    assert schemes._POLISH_SCREENS == lbcd.POLISH_SCREENS


@pytest.mark.parametrize("bad", ["both", "", None, True, ["coupling"]])
def test_polish_screen_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "polish_screen": bad}
    with pytest.raises(ConfigError, match="scheme.polish_screen"):
        job_from_dict(c)


@pytest.mark.parametrize("bad", [-1, 257, 2.0, True, "16", None])
def test_outage_couplings_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "outage_couplings": bad}
    with pytest.raises(ConfigError, match="scheme.outage_couplings"):
        job_from_dict(c)


@pytest.mark.parametrize("bad", ["none", "SDR", "", None, 1])
def test_sinr_floor_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "sinr_floor": bad}
    with pytest.raises(ConfigError, match="scheme.sinr_floor"):
        job_from_dict(c)


def test_scheme_sinr_floors_match_block_d():
    from jisac import schemes
    from jisac.algorithms.sim_lbcd import block_d, lbcd

    assert schemes._SINR_FLOORS == block_d.SINR_FLOORS
    assert schemes._CE_TIMES == lbcd.CE_TIMES


@pytest.mark.parametrize("bad", ["free", "", None, True])
def test_ce_time_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "ce_time": bad}
    with pytest.raises(ConfigError, match="scheme.ce_time"):
        job_from_dict(c)


@pytest.mark.parametrize("bad", ["capped", "", None, True, 1.0])
@pytest.mark.parametrize("scheme", ["zf_an", "sdp_an", "sdma_an", "noma_an"])
def test_detection_unreachable_validated(scheme, bad):
    c = _cfg("tris_rsma")
    c["scheme"] = {"name": scheme, "detection_unreachable": bad}
    with pytest.raises(ConfigError, match="scheme.detection_unreachable"):
        job_from_dict(c)


def test_detection_unreachable_names_and_archived_seed():
    """The config's copy of the policy names is the solver's; an archived baseline job (written
    before the key existed, when the floor was capped) keeps its job seed and counts as finished
    at the new default, because its floor was reachable (``detection_capped`` false)."""
    import json

    import yaml

    from experiments.sweep import stored_result
    from jisac import schemes
    from jisac.algorithms.tris_baselines import common
    from jisac.config import TOP_LEVEL_KEYS

    assert schemes._DETECTION_UNREACHABLE == common.DETECTION_UNREACHABLE
    run = "docs/results/2026-12-07_tris_fig6_pt/n_drops=1,scenario.p_t_dbm=5.0,scheme=sdp_an"
    with open(f"{run}/config.yaml") as f:
        cfg = {k: v for k, v in yaml.safe_load(f).items() if k in TOP_LEVEL_KEYS}
    with open(f"{run}/metrics.json") as f:
        metrics = json.load(f)
    assert "detection_unreachable" not in cfg["scheme"]
    assert metrics["tris"][0]["detection_capped"] is False
    job = job_from_dict(cfg)
    assert job.scheme.detection_unreachable == "infeasible"
    assert job.job_seed() == metrics["job_seed"]
    assert stored_result(run, job.to_dict(), job.job_seed(), job.drops_seed()) is not None
    cap = job_from_dict({**cfg, "scheme": {**cfg["scheme"], "detection_unreachable": "cap"}})
    assert cap.job_seed() != metrics["job_seed"]


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_shared_design_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "ts", "shared_design": bad}
    with pytest.raises(ConfigError, match="scheme.shared_design"):
        job_from_dict(c)
    t = _cfg()                                    # TRIS schemes design every drop: no such key
    t["scheme"] = {"name": "rsma", "shared_design": True}
    with pytest.raises(ConfigError, match="shared_design"):
        job_from_dict(t)


@pytest.mark.parametrize("bad", [-1, 21, 1.5, True, "3"])
def test_polish_rounds_validated(bad):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "polish_rounds": bad}
    with pytest.raises(ConfigError, match="scheme.polish_rounds"):
        job_from_dict(c)


def test_run_job_realises_the_same_drops_for_every_scheme():
    """Two jobs that differ only in the scheme's parameters design on the same channel estimates
    (design.npz H_hat) and record the same drops_seed, but different job seeds."""
    import numpy as np

    from jisac.jobs import run_job

    out = []
    for frac in (0.3, 0.5):
        c = {**_cfg(), "n_drops": 2, "mc_draws": 1000, "mc_chunk": 1000}
        c["scheme"] = {"name": "mrt", "common_fraction": frac}
        out.append(run_job(job_from_dict(c)))
    a, b = out
    assert a.metrics["drops_seed"] == b.metrics["drops_seed"]
    assert a.metrics["job_seed"] != b.metrics["job_seed"]
    np.testing.assert_array_equal(np.asarray(a.design["H_hat"]), np.asarray(b.design["H_hat"]))
    assert not np.allclose(np.asarray(a.design["W"]), np.asarray(b.design["W"]))


def test_si_conversions():
    s = TrisScenario()
    assert s.p_t == pytest.approx(1e-3)            # 0 dBm
    assert s.noise_lu == pytest.approx(1e-12)      # -90 dBm
    assert s.wavelength == pytest.approx(299_792_458.0 / 30e9)
    assert s.rician_k == pytest.approx(10.0)
    q = SimScenario()
    assert q.p_bs_max == pytest.approx(1.0)        # 30 dBm
    assert q.energy_budget == pytest.approx(316.2e-6)


def test_integer_literals_for_float_fields_give_the_same_job():
    # `scenario.p_t_dbm=0` on the command line arrives as int 0; it must equal the default 0.0.
    a = job_from_dict(_cfg(p_t_dbm=0, lu_positions=[[50, 22.5, 10], [70, 45, 20], [90, 67.5, 30]]))
    b = job_from_dict(_cfg())
    assert a.scenario == b.scenario
    assert a.job_seed() == b.job_seed()
    assert isinstance(a.scenario.p_t_dbm, float)


@pytest.mark.parametrize("starts", [[], ["paper", "paper"], ["svd"], "paper"])
def test_lbcd_starts_validated(starts):
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "lbcd", "starts": starts}
    with pytest.raises(ConfigError) as e:
        job_from_dict(c)
    assert e.value.key == "scheme.starts" and "paper" in str(e.value)


def test_lbcd_starts_from_yaml_list():
    c = _cfg("sim_isac")
    c["scheme"] = {"name": "nr_lbcd", "robust": False, "starts": ["sensing"]}
    assert job_from_dict(c).scheme.starts == ("sensing",)


def test_old_capped_detection_run_is_recomputed(tmp_path):
    """Resume: an AN-baseline run written before ``scheme.detection_unreachable`` existed, which
    capped an unreachable (62) floor and reported ``converged``, matches today's config but is
    not today's result (that drop is ``infeasible``): ``stored_result`` must not return it."""
    import json
    import shutil

    import yaml

    from experiments.sweep import stored_result
    from jisac.config import TOP_LEVEL_KEYS

    src = "docs/results/2026-12-08_tris_n9_detection_floor/n_drops=1,scheme=sdp_an,tris_n=n9"
    run = tmp_path / "run"
    shutil.copytree(src, run)
    cfg_file = run / "config.yaml"
    raw = yaml.safe_load(cfg_file.read_text())
    raw["scheme"].pop("detection_unreachable", None)          # as written before the key
    cfg_file.write_text(yaml.safe_dump(raw))
    cfg = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS}
    job = job_from_dict(cfg)
    m = json.loads((run / "metrics.json").read_text())
    floor = m["tris"][0]["detection_floor_w"]
    assert floor > job.scenario.n_elements * job.scenario.p_t      # unreachable at N = 9
    assert stored_result(run, job.to_dict(), job.job_seed(), job.drops_seed()) is not None

    # the same drop as the old code reported it: floor capped, "converged"
    m["status"] = "converged"
    m["tris"][0].pop("infeasible_reason")
    m["tris"][0]["detection_capped"] = True
    (run / "metrics.json").write_text(json.dumps(m))
    assert stored_result(run, job.to_dict(), job.job_seed(), job.drops_seed()) is None
