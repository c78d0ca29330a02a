"""Calibration on a recording's own layout and background (``wavescope calibrate``).

Known truth: bank fields (a plane wave in 1/f noise correlated over 1 mm with 10% unshared
noise, at a stated in-band SNR). The background's measured exponent, correlation length
and SNR must come back near what the field was built with (tolerances below, set by
what a 10-20 s record resolves), and the simulated waves must be read as the defaults
read them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from wavescope.cli.main import main
from wavescope.datasets.backgrounds import pink_background
from wavescope.datasets.bank import BankCell, bank_field
from wavescope.datasets.layouts import grid_positions, random_positions
from wavescope.io.npz import write_npz
from wavescope.pipelines.calibrate import calibrate_recording
from wavescope.space.correlation import correlation_length


@pytest.mark.parametrize("layout", ["grid", "irregular"])
@pytest.mark.parametrize(("length", "white"), [(1e-3, 0.1), (0.5e-3, 0.3), (2e-3, 0.0)])
def test_correlation_length_recovers_the_background(layout, length, white):
    """1/f noise: the length within 25% and the unshared share within 0.1 (the spread of
    seeds of a 20 s record)."""
    pos = grid_positions(10, 10, 0.4e-3) if layout == "grid" else random_positions(64, 4e-3, seed=0)
    bg = pink_background(pos, fs=500, duration=20, exponent=1.0, smooth_length=length,
                         white_fraction=white, seed=1)  # fmt: skip
    got_length, got_white = correlation_length(bg.data, pos)
    assert got_length == pytest.approx(length, rel=0.25)
    assert abs(got_white - white) <= 0.1


def test_calibration_reproduces_the_background_and_reads_the_simulations():
    fld = bank_field(BankCell("wave", wavelength=2.0, snr_db=6.0, duration=15.0), 1)
    truth = fld.meta["truth"]
    res = calibrate_recording(fld, wavelengths=(2.0,), n_per_speed=2, seed=3)
    bg = res.background
    assert abs(bg.exponent - truth["background"]["exponent"]) < 0.3
    assert abs(bg.frequency - truth["frequency"]) < 0.5  # Hz: two Welch bins
    # the band around the peak is wider than the +-2 Hz the field was mixed at, so the
    # in-band SNR reads lower; within 3 dB
    assert abs(bg.snr_db - 6.0) < 3.0
    assert bg.length == pytest.approx(1e-3, rel=0.5)
    (row,) = res.speeds
    assert row.n == 2 and row.printed == 1.0
    # 2 array extents at ~5 dB: the defaults read within 5% (validation scorecard)
    assert abs(row.median_error) < 0.05
    assert res.to_json()["speeds"][0]["wavelength_extents"] == 2.0


def test_cli_calibrate_writes_its_json_and_figure(tmp_path, capsys):
    fld = bank_field(BankCell("wave", wavelength=2.0, snr_db=10.0, duration=10.0), 2)
    path = write_npz(tmp_path / "rec.npz", fld)
    out, fig = tmp_path / "cal.json", tmp_path / "cal.png"
    rc = main(["calibrate", str(path), "--wavelengths", "2", "--n-per-speed", "1",
               "--json", str(out), "--plot", str(fig)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "background: 1/f^" in text and "true speed" in text
    data = json.loads(out.read_text())
    assert data["speeds"][0]["n"] == 1 and data["background"]["exponent"] > 0.5
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["calibrate", str(path), "--n-per-speed", "0"]) == 2
    assert "--n-per-speed 0" in capsys.readouterr().err
    assert main(["calibrate", str(path), "--wavelengths", "-1"]) == 2
    assert np.isfinite(data["background"]["length"])
