"""The interval on every printed speed (issue 19, item 5): where it comes from and when it
is undefined. Its coverage of the truth is measured on the validation bank
(analyses/results/validation.md, column 'interval coverage')."""

from __future__ import annotations

import numpy as np
import pytest

from wavescope.datasets import grid_positions, planar_wave
from wavescope.waves import measure_velocity
from wavescope.waves.summary import INTERVAL_LEVEL, speed_interval


def test_interval_of_window_estimates_brackets_the_median_and_the_truth():
    f = planar_wave(grid_positions(8, 8, 0.4e-3), fs=500, duration=20, frequency=10,
                    speed=0.3, direction=0.5, snr_db=0, seed=1)  # fmt: skip
    s = measure_velocity(f, (8, 12)).summary()
    iv = s["speed"]["interval"]
    assert iv["level"] == INTERVAL_LEVEL and iv["low"] <= s["speed"]["median"] <= iv["high"]
    assert iv["low"] <= 0.3 <= iv["high"]  # a 0 dB wave of 20 s; its bias is under 1%
    a = measure_velocity(f, (8, 12)).summary("all")["speed"]
    assert a["interval"]["low"] <= a["median"] <= a["interval"]["high"]


def test_blocks_of_correlated_samples_give_a_wider_interval_than_samples():
    """Per-sample speeds share noise with their neighbours: a random walk around 1 read as
    independent samples would give an interval several times too narrow."""
    rng = np.random.default_rng(0)
    x = 1 + np.cumsum(rng.normal(0, 0.01, 2000))
    lo_b, hi_b = speed_interval(x, per_sample=True)
    lo_s, hi_s = speed_interval(x, per_sample=False)
    assert (hi_b - lo_b) > 3 * (hi_s - lo_s)


def test_no_interval_from_fewer_than_three_estimates_and_the_reason_is_given():
    assert speed_interval([0.3, 0.31]) == (None, None)
    x = np.zeros((4, 32))
    for i in range(4):
        x[i, 4 + i] = 1.0
    from wavescope.core.field import WaveField

    s = measure_velocity(WaveField.from_line(x), method="event-time").summary()
    assert s["speed"]["median"] == pytest.approx(1.0)
    assert s["speed"]["interval"]["low"] is None
    assert "fewer than 3 estimates" in s["undefined"]["speed_low"]
