"""The main job end to end: ``wavescope demo --quick`` writes every output and the report."""

import json

import numpy as np
import pytest

from wavescope.cli.main import main
from wavescope.io import read_npz


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
    # step 3: both models trained, with metrics to plot
    for name in ("vwave-mamba", "mamba"):
        assert (demo_out / "runs" / name / "checkpoint.pt").exists()
        lines = (demo_out / "runs" / name / "metrics.jsonl").read_text().splitlines()
        assert json.loads(lines[-1])["step"] == 12
    # step 4: hidden states, sites x steps in sites/step
    st = sorted((demo_out / "states").glob("vwave-mamba_ch*.npz"))
    assert len(st) == 3
    g = read_npz(st[0])
    assert g.space_unit == "site" and g.time_unit == "step" and g.data.shape == (32, 64)
    assert np.abs(g.data).max() > 0  # the impulse reached the state


def test_quick_demo_report_holds_the_three_groups(demo_out):
    html = (demo_out / "report.html").read_text()
    rep = json.loads((demo_out / "report.json").read_text())
    assert rep["groups"] == ["cortex", "vwave-mamba", "mamba"]
    for g in rep["groups"]:
        assert g in html
    assert rep["units"] == {"cortex": "m/s", "vwave-mamba": "sites/step", "mamba": "sites/step"}
    # the training metrics became learning curves of both models
    assert {r["group"] for r in rep["learning"]} == {"vwave-mamba", "mamba"}
    # every number in the report is in the JSON: one row per recording (3 + 3 + 3)
    assert len(rep["recordings"]) == 9
    # what is simulated is called simulated: the cortex group is neural-field simulations
    # with their truth, each its own subject; the models are checkpoints
    prov = rep["provenance"]
    assert prov["cortex"]["kind"] == "simulated" and prov["cortex"]["truth"]["speed"] == 0.3
    assert "neural_field" in prov["cortex"]["source"]
    assert prov["cortex"]["subject_name"] == "independent simulation"
    assert rep["n_subjects"]["cortex"] == 3 and rep["subject_note"] is None
    assert prov["mamba"]["kind"] == "trained model"
    assert prov["mamba"]["source"].endswith("checkpoint.pt")
    assert "cortex (simulated)" in html and "3 independent simulations" in html
    # --quick trains 12 steps: neither model leaves chance (ln 26), and the report says so
    assert rep["learned"] == {"cortex": None, "vwave-mamba": False, "mamba": False}
    assert "mamba (did not learn)" in html
    assert rep["abstract"]["groups"][0]["kind"] == "simulated"


def test_quick_demo_memory_curves_meet_the_driven_truth(demo_out):
    from wavescope.datasets import driven_wave
    from wavescope.pipelines.demo import MEMORY_GRID, MEMORY_SPEED

    rep = json.loads((demo_out / "report.json").read_text())
    groups = rep["memory"]["groups"]
    assert set(groups) == {"cortex", "vwave-mamba", "mamba"}
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
    assert groups["cortex"]["horizons"] == [truth - 1] * 2
    # the models' wave states hold at least the current letter
    assert min(groups["vwave-mamba"]["horizons"] + groups["mamba"]["horizons"]) >= 1


def test_demo_refuses_to_overwrite_and_overwrite_keeps_other_files(demo_out, capsys):
    assert main(["demo", "--quick", "--out", str(demo_out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # --overwrite replaces only what the demo writes: a user's own runs stay
    own = demo_out / "runs" / "my_run" / "checkpoint.pt"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"mine")
    stale = demo_out / "states" / "vwave-mamba_ch999.npz"
    stale.write_bytes(b"old")
    assert main(["demo", "--quick", "--overwrite", "--out", str(demo_out)]) == 0
    assert own.read_bytes() == b"mine"
    assert not stale.exists()  # an earlier demo's capture is not mixed into the report
    assert len(json.loads((demo_out / "report.json").read_text())["recordings"]) == 9
