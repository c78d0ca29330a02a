"""The main job end to end: ``wavescope demo --quick`` writes every output and the report.

``--quick`` keeps the full demo's structure at a tiny scale: 3 seeds of each model (12
training steps each), so each model group has 3 subjects and the comparison tests run.
"""

import json

import numpy as np
import pytest

from wavescope.cli.main import main
from wavescope.io import read_npz

SEED_DIRS = ["seed0", "seed1", "seed2"]  # --quick trains seeds 0, 1 and 2 of each model


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "quick"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_demo_writes_recordings_states_runs_and_report(demo_out):
    # step 1 (the issue-2 job): the known plane wave is measured within 1 % (as before)
    s = json.loads((demo_out / "summary.json").read_text())
    assert s["speed"]["median"] == pytest.approx(0.3, rel=0.01)
    # step 2: neural-field recordings in m/s
    cortex = sorted((demo_out / "cortex").glob("neural_field_*.npz"))
    assert len(cortex) == 3
    f = read_npz(cortex[0])
    assert f.space_unit == "m" and f.time_unit == "s" and f.data.shape == (100, 3000)
    # step 3: 3 seeds of both models trained, each in its own run folder with metrics
    for name in ("vwave-mamba", "mamba"):
        assert sorted(p.name for p in (demo_out / "runs" / name).iterdir()) == SEED_DIRS
        for run in SEED_DIRS:
            assert (demo_out / "runs" / name / run / "checkpoint.pt").exists()
            lines = (demo_out / "runs" / name / run / "metrics.jsonl").read_text().splitlines()
            assert json.loads(lines[-1])["step"] == 12
            info = json.loads((demo_out / "runs" / name / run / "run.json").read_text())
            assert info["train"]["seed"] == int(run.removeprefix("seed"))
    # step 4: hidden states, sites x steps in sites/step, 3 channels of each network
    st = sorted((demo_out / "states").glob("vwave-mamba_seed*_ch*.npz"))
    assert len(st) == 9
    g = read_npz(st[0])
    assert g.space_unit == "site" and g.time_unit == "step" and g.data.shape == (32, 64)
    assert np.abs(g.data).max() > 0  # the impulse reached the state
    # every capture carries its network's identity: one subject per seed, shared by channels
    subj = {}
    for p in sorted((demo_out / "states").glob("*_seed*_ch*.npz")):
        meta = read_npz(p).meta
        subj.setdefault(p.name.split("_ch")[0], set()).add(meta["subject"])
    assert sorted(subj) == sorted(f"{m}_{s}" for m in ("vwave-mamba", "mamba") for s in SEED_DIRS)
    assert all(len(v) == 1 for v in subj.values())
    assert len(set.union(*subj.values())) == 6


def test_quick_demo_report_holds_the_three_groups(demo_out):
    html = (demo_out / "report.html").read_text()
    rep = json.loads((demo_out / "report.json").read_text())
    assert rep["groups"] == ["cortex", "vwave-mamba", "mamba"]
    for g in rep["groups"]:
        assert g in html
    assert rep["units"] == {"cortex": "m/s", "vwave-mamba": "sites/step", "mamba": "sites/step"}
    # the training metrics became learning curves of both models
    assert {r["group"] for r in rep["learning"]} == {"vwave-mamba", "mamba"}
    # every number in the report is in the JSON: one row per recording (3 + 3 x 3 + 3 x 3)
    assert len(rep["recordings"]) == 21
    # what is simulated is called simulated: the cortex group is neural-field simulations
    # with their truth, each its own subject; the models are checkpoints
    prov = rep["provenance"]
    assert prov["cortex"]["kind"] == "simulated" and prov["cortex"]["truth"]["speed"] == 0.3
    assert "neural_field" in prov["cortex"]["source"]
    assert prov["cortex"]["subject_name"] == "independent simulation"
    assert rep["n_subjects"] == {"cortex": 3, "vwave-mamba": 3, "mamba": 3}
    assert rep["subject_note"] is None  # no group fell back to files as subjects
    assert prov["mamba"]["kind"] == "trained model"
    assert prov["mamba"]["source"].endswith("checkpoint.pt")
    assert "cortex (simulated)" in html and "3 independent simulations" in html
    # --quick trains 12 steps: neither model leaves chance (ln 26), and the report says so
    assert rep["learned"] == {"cortex": None, "vwave-mamba": False, "mamba": False}
    assert "mamba (did not learn)" in html
    assert rep["abstract"]["groups"][0]["kind"] == "simulated"


def test_quick_demo_counts_each_seed_as_a_subject_and_tests_the_groups(demo_out):
    rep = json.loads((demo_out / "report.json").read_text())
    # the captures' subjects are the checkpoints' identities (read from the files, not given)
    for g in ("vwave-mamba", "mamba"):
        ins = [i for i in rep["inputs"] if i["group"] == g]
        assert len(ins) == 9 and {i["subject_source"] for i in ins} == {"recording"}
        assert sorted({i["subject"].split(" #")[0] for i in ins}) == [
            f"{g} seed {s}" for s in (0, 1, 2)
        ]
    # each network's learning curve is in the report
    assert sorted((r["group"], r["label"]) for r in rep["learning"]) == sorted(
        (g, s) for g in ("vwave-mamba", "mamba") for s in SEED_DIRS
    )
    # PGD is defined for every capture: every pair of groups is tested on it, with 3
    # subjects a side, the channels of one network as repeated measures (mixed model),
    # an effect size with its interval and the FDR-adjusted p-value
    pgd = {(t["group_a"], t["group_b"]): t for t in rep["tests"] if t["property"] == "pgd_median"}
    assert set(pgd) == {("cortex", "vwave-mamba"), ("cortex", "mamba"), ("vwave-mamba", "mamba")}
    for (a, b), t in pgd.items():
        assert (t["subjects_a"], t["subjects_b"]) == (3, 3), (a, b)
        assert t["test"] is not None and 0 < t["p_value"] <= 1
        assert t["p_fdr"] is not None and t["p_fdr"] >= t["p_value"]
        assert (
            t["cliffs_delta"]["low"] <= t["cliffs_delta"]["estimate"] <= t["cliffs_delta"]["high"]
        )
        assert t["p_permutation"] is not None
        # 3 against 3 subjects: 20 splits, so the two-sided permutation p is at least 2/20
        assert t["p_permutation"] >= 0.1 - 1e-12
    models = pgd[("vwave-mamba", "mamba")]
    assert models["test"].startswith("mixed effects") and models["mixed"]["n_subjects"] == 6


def test_quick_demo_memory_curves_meet_the_driven_truth(demo_out):
    from wavescope.datasets import driven_wave
    from wavescope.pipelines.demo import MEMORY_GRID, MEMORY_SPEED

    rep = json.loads((demo_out / "report.json").read_text())
    groups = rep["memory"]["groups"]
    assert set(groups) == {"cortex", "vwave-mamba", "mamba"}
    # one curve per network, its subject the network's checkpoint (the captures' subjects)
    captures = {i["subject"] for i in rep["inputs"] if i["group"] != "cortex"}
    for g in ("vwave-mamba", "mamba"):
        assert len(groups[g]["subjects"]) == 3 and set(groups[g]["subjects"]) <= captures
    # 3 curves a group: every pair is tested on the horizon
    horizon = [t for t in rep["memory"]["tests"] if t["property"] == "horizon"]
    assert len(horizon) == 3 and all(t["test"] is not None for t in horizon)
    assert "Memory curves" in (demo_out / "report.html").read_text()
    # the driven cortex: the horizon is the transit time across the array + 1 sample,
    # exactly, at this noise (0.5) and attenuation (3 mm): see tests/test_driven_memory.py
    truth = driven_wave(
        np.zeros(100), speed=MEMORY_SPEED * 1e3, fs=1000.0, grid=MEMORY_GRID, pitch=0.4,
        direction=float(np.arctan2(1, 8)),
    ).meta["truth"]["horizon"]  # fmt: skip
    # significance alone holds every lag the kernels reach (transit time + 1 sample); the
    # effect floor (a lag keeps 10% of the best lag's R^2 above chance) drops the last,
    # carried only by the far corner's sites (R^2 0.06-0.07 there against a floor of 0.10)
    for path in sorted((demo_out / "memory").glob("cortex_*.json")):
        curve = json.loads(path.read_text())
        assert curve["horizon_significance_only"] == truth, path.name
    assert groups["cortex"]["horizons"] == [truth - 1] * 3
    # the models' wave states hold at least the current letter
    assert min(groups["vwave-mamba"]["horizons"] + groups["mamba"]["horizons"]) >= 1


def test_demo_refuses_to_overwrite_and_overwrite_keeps_other_files(demo_out, capsys):
    assert main(["demo", "--quick", "--out", str(demo_out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # --overwrite replaces only what the demo writes: a user's own runs stay
    own = demo_out / "runs" / "my_run" / "checkpoint.pt"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"mine")
    stale = demo_out / "states" / "vwave-mamba_seed0_ch999.npz"
    stale.write_bytes(b"old")
    assert main(["demo", "--quick", "--overwrite", "--out", str(demo_out)]) == 0
    assert own.read_bytes() == b"mine"
    assert not stale.exists()  # an earlier demo's capture is not mixed into the report
    assert len(json.loads((demo_out / "report.json").read_text())["recordings"]) == 21
