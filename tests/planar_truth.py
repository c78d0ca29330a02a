"""Known planar waves for the reader tests: write one into a file, read it back, measure.

A reader passes when the field it returns measures as the in-memory field it was written
from (the file only changes how the samples are stored), and the in-memory field itself
measures within its own accuracy of the truth.
"""

from __future__ import annotations

import numpy as np

import wavescope as ws
from wavescope.datasets import grid_positions, planar_wave

#: (speed m/s, direction rad, seed): mesoscopic speeds, directions around the circle, and
#: different noise draws.
CASES = [(0.15, 0.6, 0), (0.3, 2.4, 1), (0.5, -1.9, 2)]
BAND = (8.0, 12.0)
#: Accuracy of the in-memory path on these fields (6 x 8 grid, 10 dB, 2 s at 10 Hz):
#: median speed within 5%, mean direction within 0.1 rad of the truth.
TRUTH_SPEED_REL, TRUTH_DIRECTION_RAD = 0.05, 0.1
#: A file changes only the storage of the samples (float32, or int16 counts at 1e-4 of the
#: amplitude): the measures of read-back and in-memory fields agree to 0.5% / 0.005 rad.
SAME_SPEED_REL, SAME_DIRECTION_RAD = 0.005, 0.005


def grid_wave(speed, direction, seed, *, n_rows=6, n_cols=8, pitch=0.4e-3, fs=500.0):
    """A 10 Hz plane wave on an ``n_rows x n_cols`` grid (site r * n_cols + c at
    x = c * pitch, y = r * pitch), 2 s, 10 dB SNR; positions in metres."""
    return planar_wave(
        grid_positions(n_rows, n_cols, pitch),
        fs=fs,
        duration=2.0,
        frequency=10.0,
        speed=speed,
        direction=direction,
        snr_db=10,
        seed=seed,
    )


def measured(field, band=BAND) -> tuple[float, float]:
    """Median speed (speed unit of the field) and mean direction (rad) of a field."""
    s = ws.measure_velocity(field, band, n_surrogates=0, patterns=False).summary()
    return s["speed"]["median"], s["direction"]["mean_rad"]


def angle_diff(a: float, b: float) -> float:
    return float(abs(np.angle(np.exp(1j * (a - b)))))


def assert_measures_as(read, in_memory, speed=None, direction=None, band=BAND):
    """``read`` measures as ``in_memory`` does, and ``in_memory`` as the truth."""
    s_read, d_read = measured(read, band)
    s_mem, d_mem = measured(in_memory, band)
    assert abs(s_read / s_mem - 1) < SAME_SPEED_REL, (s_read, s_mem)
    assert angle_diff(d_read, d_mem) < SAME_DIRECTION_RAD, (d_read, d_mem)
    if speed is not None:
        assert abs(s_mem / speed - 1) < TRUTH_SPEED_REL, (s_mem, speed)
    if direction is not None:
        assert angle_diff(d_mem, direction) < TRUTH_DIRECTION_RAD, (d_mem, direction)
