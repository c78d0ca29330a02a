"""The broadband routes' significance under spatially correlated noise, and their
intervals (issue 19: event-time false speeds, k-omega and xcorr intervals).

- Event-time planes: the F-test counts the field's effective sites (Bretherton's
  ``n / (1 + (n - 1) m)``), not the sites: 1/f noise smoothed over 1 mm on the bank's
  irregular 4 mm array has about 6 of 64. Counted as 64, the route called 4 of 20 such
  records waves (p 1e-40 to 1e-5 in all 20; the R^2 floor alone held back 16); now 0.
- k-omega: a bootstrap over blocks of the ridge's frequency bins, the slope refined on a
  spectrum tapered over 10% of the time window (with a Hann window a single pulse read
  1.2-3.9% fast and 0-10% of intervals covered at 0.3 and 1 sites/step). One and three
  pulses on 64 sites, 0 and 10 dB, 0.3-2.5 sites/step, 20 seeds each: 65-100% cover per
  condition, 85% of all 240.
- xcorr: a bootstrap over sites. On three pulses on an uneven line of 40 of 64 sites,
  19-20 of 20 intervals cover (over-wide, 4-7 of the seeds' SDs; a delete-one-site
  jackknife covered 15-45%).
- The price of counting effective sites: diagonal pulses in correlated 1/f noise at a
  tenth of their amplitude pass in 20, 18 and 14 of 20 records at 0.5, 2 and 4
  sites/step (before: all); the test below asserts the two slower ones on one seed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from wavescope.core.field import WaveField
from wavescope.datasets import line_pulses
from wavescope.datasets.bank import BankCell, bank_field
from wavescope.waves import measure_velocity
from wavescope.waves.broadband import (
    INTERVAL_LEVEL,
    effective_sites,
    komega_velocity,
    xcorr_velocity,
)
from wavescope.waves.routes import ESTIMATORS, RouteInput


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def test_effective_sites_of_independent_and_of_shared_noise():
    rng = np.random.default_rng(0)
    independent = rng.normal(size=(50, 4000))
    assert effective_sites(independent) == pytest.approx(50, rel=0.05)
    shared = rng.normal(size=4000)[None, :] + 0.01 * rng.normal(size=(50, 4000))
    assert effective_sites(shared) < 1.05


@pytest.mark.parametrize("layout", ["irregular", "grid"])
def test_event_time_calls_no_wave_in_spatially_correlated_1_over_f_noise(layout):
    """The route's own verdict on the bank's pink cell, 12 seeds: at most one may pass
    (alpha 0.05 + 0.05 of 12 is 1.2). Before (sites counted as independent) seeds 4 and
    7 of the irregular cell passed with F-test p 2e-20 and 2e-10."""
    cell = BankCell("pink", layout=layout, snr_db=0.0)
    passed = []
    for seed in range(12):
        est = _quiet(
            ESTIMATORS["event-time"].estimate,
            bank_field(cell, seed),
            RouteInput((8.0, 14.0), False, None, None, 0.05, seed),
        )
        passed.append(bool(est.significant))
    assert sum(passed) <= 1, passed


def _plane_pulses(speed: float, seed: int) -> WaveField:
    """Gaussian pulses crossing an 8 x 8 grid (1 site spacing) diagonally, in 1/f noise
    correlated over 2 spacings at a tenth of the pulses' amplitude."""
    from wavescope.datasets import grid_positions
    from wavescope.datasets.backgrounds import pink_background

    pos = grid_positions(8, 8, 1.0)
    t = np.arange(600.0)
    u = np.array([np.cos(0.6), np.sin(0.6)])
    delay = (pos @ u) / speed
    width = 3.0
    clean = sum(np.exp(-0.5 * ((t[None, :] - (60 + 120 * j) - delay[:, None]) / width) ** 2)
                for j in range(4))  # fmt: skip
    bg = pink_background(pos, fs=1.0, duration=600, exponent=1.5, smooth_length=2.0, seed=seed)
    data = clean + 0.1 * bg.data
    return WaveField(data, 1.0, pos, "site", "step")


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_event_time_still_finds_pulses_in_correlated_noise(speed):
    est = _quiet(
        ESTIMATORS["event-time"].estimate,
        _plane_pulses(speed, 1),
        RouteInput((0.01, 0.1), False, None, None, 0.05, 0),
    )
    assert est.significant, est.test
    assert est.speed == pytest.approx(speed, rel=0.05)


def _uneven(f: WaveField, seed: int) -> WaveField:
    keep = np.sort(np.random.default_rng(seed).choice(f.n_sites, 40, replace=False))
    return WaveField(f.data[keep], f.fs, f.positions[keep], "site", "step")


@pytest.mark.parametrize("speed", [0.3, 2.5])
def test_xcorr_interval_covers_the_truth_over_seeds(speed):
    """90% intervals over 10 seeds at 0 dB: at least 8 cover (measured 19-20 of 20)."""
    covered = []
    for seed in range(10):
        f = _uneven(line_pulses(64, speed=speed, n_pulses=3, snr_db=0, seed=seed), seed)
        lo, hi = xcorr_velocity(f).details["speed_interval"]
        covered.append(lo <= speed <= hi)
    assert sum(covered) >= 8, covered


def test_komega_interval_covers_the_truth_over_seeds():
    """90% intervals over 36 records at 0 dB (one and three pulses, 0.3, 1 and 2.5
    sites/step, 6 seeds each): between 75% and 98% cover (measured on 20 seeds a
    condition, 0 and 10 dB: 65-100% per condition, 85% over all 240)."""
    covered = []
    for speed in (0.3, 1.0, 2.5):
        for n_pulses in (1, 3):
            for seed in range(6):
                f = line_pulses(64, speed=speed, n_pulses=n_pulses, snr_db=0, seed=seed)
                bb = komega_velocity(f)
                lo, hi = bb.details["speed_interval"]
                covered.append(lo <= speed <= hi)
                assert bb.details["direction_interval"] == [0.0, 0.0]
    assert 0.75 <= np.mean(covered) <= 0.98, np.mean(covered)


@pytest.mark.parametrize("method", ["komega", "xcorr"])
def test_one_estimate_routes_print_their_interval(method):
    from wavescope.report.text import format_summary

    f = line_pulses(64, speed=1.0, n_pulses=3, snr_db=10, seed=0)
    if method == "xcorr":
        f = _uneven(f, 0)
    r = _quiet(measure_velocity, f)
    assert r.method == method
    js = r.summary()
    iv = js["speed"]["interval"]
    assert iv["level"] == INTERVAL_LEVEL and iv["low"] <= 1.0 <= iv["high"]
    assert ("k-omega ridge" if method == "komega" else "sites of the pairs") in iv["method"]
    assert js["direction_interval"]["low_rad"] == 0.0
    text = format_summary(r.summarise())
    assert f"(90% CI {iv['low']:.3g}-{iv['high']:.3g};" in text
    assert "90% CI forward" in text
