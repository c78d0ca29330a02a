"""``wavescope demo --cortex PATH``: recordings given by the user replace the simulated
cortex group, and the report says what they are (recorded, their subjects, why the pairs
with one subject are not tested)."""

import json

import pytest

from wavescope.cli.main import main
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import write_npz


def test_a_missing_cortex_file_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--quick", "--out", str(out), "--cortex", str(tmp_path / "absent.npz")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "absent.npz" in err and "not found" in err
    assert not (out / "runs").exists()


@pytest.mark.slow
def test_quick_demo_with_a_recording_as_cortex(tmp_path):
    # one file standing for one animal: 8 x 8 sites, a 10 Hz wave at 0.3 m/s
    rec = tmp_path / "animal.npz"
    f = planar_wave(grid_positions(8, 8, 0.4e-3), fs=500.0, duration=4.0, frequency=10.0,
                    speed=0.3, direction=0.5, snr_db=10.0, seed=3)  # fmt: skip
    f.meta.pop("truth", None)
    write_npz(rec, f)
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--cortex", str(rec)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["provenance"]["cortex"]["kind"] == "recorded"
    assert rep["provenance"]["cortex"]["source"] == str(rec)
    assert rep["n_subjects"]["cortex"] == 1 and rep["n_subjects"]["mamba"] == 3
    assert not (out / "cortex").exists()  # nothing simulated in its place
    # the memory comparison holds the models only (a recording has no known input)
    assert set(rep["memory"]["groups"]) == {"vwave-mamba", "mamba"}
    assert (
        "cortex vs mamba (cortex: 1 subject, no between-group test)"
        in (rep["abstract"]["not_testable"])
    )
    html = (out / "report.html").read_text()
    assert "cortex: 1 subject, no between-group test" in html
