"""The validation bank's breadth cells (issue 19, item 1): lines of model-state sites in
steps, uneven lines, projected 3-D contacts, pulses, delay-line impulse responses and
complex-SSM states, with their truth in the field's own units.

The existing cells must not move: the committed scorecards were measured on them, so a
few of their fields are checked against values drawn with the code before the breadth
cells existed (commit 7d8cfc7).
"""

import numpy as np
import pytest

from wavescope.core.validate import WaveInputError
from wavescope.datasets.bank import BankCell, bank_cells, bank_field
from wavescope.pipelines.validation import score_record

# name: (data[0, 0], data[0, 11], data[7, 1234], sum of squares, truth speed) at seed 3
BEFORE = {
    "wave grid white -3dB 0.5x": (13.4851646, -6.0380731, 5.2939596, 92914262.84, 0.0216728384),
    "wave grid pink -3dB 2x": (0.6820397, 3.1237583, 6.1110811, 127495436.74, 0.0866913536),
    "bursts grid pink 6dB 5x": (0.713291, 0.5562295, 1.4818343, 2172295.705, 0.2167283841),
    "white grid white 0dB": (-0.9097609, -0.2822775, -0.1321757, 1499072.169, None),
    "synchronous grid pink 0dB": (14.9094114, 13.1993208, -15.9695892, 144153495.68, None),
    "patches irregular pink 0dB": (-3.0339475, -5.6396036, 1.8489044, 24264207.81, None),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_existing_cells_are_unchanged(name):
    cell = next(c for c in bank_cells("full") if c.name == name)
    d = bank_field(cell, 3).data.astype(np.float64)
    v0, v1, v2, ss, speed = BEFORE[name]
    got = (d[0, 0], d[0, 11], d[7, 1234])
    np.testing.assert_allclose(got, (v0, v1, v2), rtol=1e-5, atol=1e-6)
    assert (d**2).sum() == pytest.approx(ss, rel=1e-6)
    truth = bank_field(cell, 3).meta["truth"]
    assert truth.get("speed") == (None if speed is None else pytest.approx(speed, rel=1e-9))


def test_breadth_cells_are_their_own_selection():
    full = {c.name for c in bank_cells("full")}
    breadth = bank_cells("breadth")
    assert len({c.name for c in breadth}) == len(breadth)
    assert not full & {c.name for c in breadth}
    assert {c.layout for c in breadth} >= {"line-steps", "uneven-line", "depth3d"}
    assert {c.kind for c in breadth} >= {"pulses", "impulse", "ssm", "smooth"}


def test_truth_is_in_the_fields_own_units():
    imp = bank_field(BankCell("impulse", layout="line-steps", background="white",
                              snr_db=20.0, duration=256.0, speed=0.5), 0)  # fmt: skip
    assert (imp.space_unit, imp.time_unit, imp.fs) == ("site", "step", 1.0)
    assert imp.speed_unit == "sites/step" and imp.meta["truth"]["speed"] == pytest.approx(0.5)
    assert imp.meta["truth"]["direction"] in (0.0, pytest.approx(np.pi))
    d3 = bank_field(BankCell("wave", layout="depth3d"), 1)
    truth = d3.meta["truth"]
    assert d3.positions.shape == (32, 2)  # projected as the MNE and BIDS readers do
    assert truth["speed"] == pytest.approx(truth["speed_3d"], rel=0.05)
    line = bank_field(BankCell("wave", layout="uneven-line"), 2)
    gaps = np.diff(line.positions[:, 0])
    assert line.positions.shape == (16, 1) and gaps.max() / gaps.min() > 1.3


def test_impulse_cells_need_a_line_of_steps_and_a_speed():
    with pytest.raises(WaveInputError):
        BankCell("impulse", speed=1.0)
    with pytest.raises(WaveInputError):
        BankCell("impulse", layout="line-steps")


SEEDS = range(5)
#: (cell, band given): the defaults read these within TOL (median |error|) and every
#: printed record within 3 TOL over SEEDS (measured over 10 seeds: medians within 1.1%,
#: every record within 5%).
TOL = 0.05
WAVE_CELLS = [
    (BankCell("impulse", layout="line-steps", background="white", snr_db=20.0,
              duration=256.0, speed=0.5), False),
    # k-omega resolves no wavenumber at 2 sites/step on 32 sites; xcorr, which it gives
    # way to, reads it (it printed nothing while the unresolved ridge counted against it)
    (BankCell("impulse", layout="line-steps", background="white", snr_db=20.0,
              duration=256.0, speed=2.0), False),
    # sustained states on a line of steps, with the band and without: with no options
    # they once went to the k-omega route, which printed no speed or one 100x too slow;
    # a sustained peak above the 1/f fit now takes the phase route
    (BankCell("ssm", layout="line-steps", background="white", snr_db=3.0,
              wavelength=0.5, duration=2048.0), True),
    (BankCell("ssm", layout="line-steps", snr_db=10.0, wavelength=2.0,
              duration=2048.0), False),
    (BankCell("wave", layout="line-steps", snr_db=10.0, wavelength=0.5,
              duration=2048.0), True),
    (BankCell("wave", layout="line-steps", snr_db=10.0, wavelength=2.0,
              duration=2048.0), False),
    (BankCell("wave", layout="uneven-line"), False),
    (BankCell("wave", layout="depth3d"), True),
]  # fmt: skip


@pytest.mark.parametrize(("cell", "band"), WAVE_CELLS, ids=lambda x: getattr(x, "name", str(x)))
def test_defaults_read_breadth_waves_within_5pct(cell, band):
    recs = [score_record(cell, s, band) for s in SEEDS]
    errs = np.array([r.speed_error for r in recs if r.speed_error is not None])
    assert errs.size >= 4, [r.method for r in recs]
    assert np.median(np.abs(errs)) <= TOL, errs
    assert np.all(np.abs(errs) <= 3 * TOL), errs
    assert {r.unit for r in recs} == {bank_field(cell, 0).speed_unit}


NO_WAVE_CELLS = [
    BankCell("pink", layout="line-steps", snr_db=0.0, duration=2048.0),
    BankCell("synchronous", layout="depth3d", snr_db=0.0),
    BankCell("standing", layout="uneven-line", snr_db=0.0),
    BankCell("smooth", layout="line-steps", background="smooth", snr_db=0.0, duration=2048.0),
]


@pytest.mark.parametrize("cell", NO_WAVE_CELLS, ids=lambda c: c.name)
def test_breadth_no_wave_cells_stay_silent(cell):
    printed = [score_record(cell, s, False).speed is not None for s in SEEDS]
    assert sum(printed) <= 1, printed  # at most 1 of 5 (the target: 10% of records)


def test_scorecard_reads_what_the_cli_prints_on_a_line_of_steps(tmp_path, capsys):
    """The scorecard's record is what ``wavescope velocity FILE --band LO HI`` prints for
    the saved field, unit included."""
    import json

    from wavescope.cli.main import main
    from wavescope.io.npz import write_npz

    cell = BankCell("wave", layout="line-steps", snr_db=10.0, wavelength=0.5, duration=2048.0)
    fld = bank_field(cell, 0)
    lo, hi = fld.meta["truth"]["band"]
    path = write_npz(tmp_path / "states.npz", fld)
    out = tmp_path / "v.json"
    assert main(["velocity", str(path), "--band", str(lo), str(hi), "--json", str(out)]) == 0
    capsys.readouterr()
    printed = json.loads(out.read_text())["speed"]
    rec = score_record(cell, 0, True)
    assert printed["unit"] == rec.unit == "sites/step"
    assert printed["median"] == pytest.approx(rec.speed, rel=1e-6)
    assert rec.speed_error == pytest.approx(printed["median"] / fld.meta["truth"]["speed"] - 1)


def test_projected_shafts_print_the_coherent_plane_and_its_interval_covers():
    """On the 3-D contacts (4 shafts projected onto a plane) the headline is the coherent
    plane wave and its 90% interval covers the truth. Before the plane fit's start left
    the cross-shaft direction at zero, the fit climbed to an alias in 5 of 6 seeds, was
    flagged, and the window median (+0.8% biased, coverage 7/10) was printed instead.
    Tolerance: at least 4 of 6 seeds covered (at the nominal 0.9, 4 or fewer of 6 has
    probability 0.11, 3 or fewer 0.016; measured 10/10 over 10 seeds, both modes)."""
    from wavescope.pipelines.recording import VelocityOptions, measure_recording
    from wavescope.waves.summary import COHERENT_INTERVAL_METHOD

    cell = BankCell("wave", layout="depth3d", wavelength=2.0)
    covered = []
    for seed in range(6):
        fld = bank_field(cell, seed)
        speed = measure_recording(fld, VelocityOptions()).summary.to_json()["speed"]
        assert speed["interval"]["method"] == COHERENT_INTERVAL_METHOD, (seed, speed)
        v = fld.meta["truth"]["speed"]
        covered.append(speed["interval"]["low"] <= v <= speed["interval"]["high"])
    assert sum(covered) >= 4, covered
