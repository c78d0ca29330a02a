"""The widefield recording end to end with the documented defaults, against an
independent estimator written here (per-wave front times, scipy only).

``wavescope velocity FRAMES.npz`` with no options reads a widefield .npz with the reader's
pipeline (cortex mask, dF/F, 2 x 2 binning, detrend) and its documented band (0.1-5 Hz,
Cobrawap's; generalized phase), measures on the phase route and summarises wave epochs.
The front-time estimator below shares none of that code: it band-passes with a
Butterworth filter, finds each slow wave as a peak of the mean signal, takes each site's
peak time around it (parabolic interpolation) and fits a plane t = t0 + s . x per wave
(speed 1/|s|), keeping organised waves (plane R^2 > 0.5).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

import wavescope as ws
from wavescope.cli.main import main

FS, PIXEL, N = 25.0, 5e-5, 100  # the LENS recording's frame rate (Hz), pixel (m), side


def front_time_velocity(field, band=(0.1, 5.0), min_r2=0.5):
    """Per-wave speeds (m/s), directions (rad) and plane R^2 from peak times at each site."""
    x, pos, fs = field.data[field.good].astype(float), field.positions[field.good], field.fs
    b, a = signal.butter(2, band, btype="band", fs=fs)
    y = signal.filtfilt(b, a, x, axis=1)
    m = y.mean(0)
    peaks, _ = signal.find_peaks(m, distance=int(0.4 * fs), prominence=0.5 * np.std(m))
    half = int(0.5 * fs)
    out = []
    for p in peaks:
        lo, hi = max(p - half, 0), min(p + half + 1, y.shape[1])
        seg = y[:, lo:hi]
        i = np.clip(np.argmax(seg, axis=1), 1, seg.shape[1] - 2)
        rows = np.arange(len(i))
        ym, y0, yp = seg[rows, i - 1], seg[rows, i], seg[rows, i + 1]
        den = ym - 2 * y0 + yp
        t = (lo + i + np.where(den != 0, 0.5 * (ym - yp) / np.where(den != 0, den, 1), 0)) / fs
        A = np.c_[np.ones(len(t)), pos]
        keep = np.ones(len(t), bool)
        for _ in range(3):  # refit without sites whose peak is another event (3 MAD)
            coef = np.linalg.lstsq(A[keep], t[keep], rcond=None)[0]
            r = t - A @ coef
            mad = 1.4826 * np.median(np.abs(r[keep] - np.median(r[keep])))
            keep = np.abs(r) < 3 * max(mad, 1e-9)
        res = t[keep] - A[keep] @ coef
        r2 = 1 - res.var() / max(t[keep].var(), 1e-300)
        s = coef[1:]
        out.append((1 / np.linalg.norm(s), np.arctan2(s[1], s[0]), r2))
    out = np.array(out).reshape(-1, 3)
    return out[out[:, 2] > min_r2]


def slow_wave_frames(speed, direction, seed, duration=40.0):
    """Camera counts (uint16) of calcium slow waves: a pulse (sd 0.12 s) every 0.8 +- 0.15 s
    crossing a bright disc of cortex as a plane at ``speed`` (m/s) towards ``direction``
    (rad, +- 0.17 rad per wave), 5% dF/F, 2% multiplicative camera noise per pixel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * FS)) / FS
    r, c = np.mgrid[0:N, 0:N]
    x, y = c * PIXEL, r * PIXEL
    x0, y0 = x.mean(), y.mean()
    onsets = np.arange(0.5, duration - 0.5, 0.8)
    onsets = onsets + rng.uniform(-0.15, 0.15, onsets.size)
    dirs = direction + rng.normal(0, 0.17, onsets.size)
    sig = np.zeros((t.size, N, N), np.float32)
    for tk, th in zip(onsets, dirs):
        d = ((x - x0) * np.cos(th) + (y - y0) * np.sin(th)) / speed
        sig += np.exp(-0.5 * ((t[:, None, None] - tk - d[None]) / 0.12) ** 2).astype(np.float32)
    disc = (x - x0) ** 2 + (y - y0) ** 2 < (0.45 * N * PIXEL) ** 2
    base = np.where(disc, 2000.0, 400.0)
    frames = base * (1 + 0.05 * sig * disc) * (1 + 0.02 * rng.standard_normal(sig.shape))
    return np.clip(frames, 0, 65535).astype(np.uint16)


def _default_cli(path, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["velocity", str(path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    s = json.loads(out.read_text())
    return s.get("summary", s), printed


@pytest.mark.parametrize("speed, direction, seed", [(0.03, -0.5, 0), (0.015, 1.0, 2)])
def test_default_cli_on_synthetic_slow_waves_meets_the_truth(
    speed, direction, seed, tmp_path, capsys
):
    """Known truth through the reader, its defaults and the CLI. Tolerance 10% on speed:
    the pulses are broadband (harmonics to 5 Hz) and cross the 4.5 mm disc in 6-12
    frames; measured errors were +3% (30 mm/s) and +7.5% (15 mm/s). Directions within
    0.1 rad (the waves' own directions scatter by 0.17 rad). The front-time estimator
    of this file is checked on the same frames (within 10%)."""
    path = tmp_path / "frames.npz"
    np.savez(path, frames=slow_wave_frames(speed, direction, seed), fs_hz=FS, pixel_size_m=PIXEL)
    s, printed = _default_cli(path, tmp_path, capsys)
    assert s["method"] == "phase-gradient" and s["band"] == [0.1, 5.0]
    assert "Cobrawap" in s["band_source"] and "band from" in printed
    assert s["generalized_phase"] is True
    assert s["speed"]["median"] == pytest.approx(speed, rel=0.10)
    assert abs(np.angle(np.exp(1j * (s["direction"]["mean_rad"] - direction)))) < 0.1
    assert s["speed"]["selection"].startswith("wave epochs")
    fronts = front_time_velocity(ws.read_recording(path))
    assert len(fronts) > 20
    assert np.median(fronts[:, 0]) == pytest.approx(speed, rel=0.10)


@pytest.mark.realdata
def test_the_real_recording_with_no_options_agrees_with_front_times(
    widefield_npz, tmp_path, capsys
):
    """The LENS ketamine recording: the default speed of organised waves against the
    front-time estimator's. Measured: wave epochs 35.9 mm/s (IQR 27.1-44.7, 14 epochs,
    40% of the time, direction -25 deg; 40.5 mm/s in 24 epochs, 81.5% of the time, with
    the older null) against front times 31.1 mm/s (36 waves with plane R^2 > 0.5,
    direction -29 deg): the two measure different things on curved fronts (the band's
    phase velocity vs the crossing of each peak), so agreement within a factor 1.5 and
    directions within 30 deg are required, and both numbers are in the note of issue 11.
    In the anatomical frame of SOURCE.md (flip rows, rotate -90 deg: top ventral, right
    lateral) +x (columns) points dorsal and +y (rows) lateral, so -25 deg is towards
    dorsal and slightly medial."""
    s, printed = _default_cli(widefield_npz, tmp_path, capsys)
    assert s["method"] == "phase-gradient" and s["band"] == [0.1, 5.0]
    assert s["samples_summarised"] == "waves"
    # wave fraction and pattern classes do not contradict each other
    assert s["wave_fraction"] + s["patterns"]["synchronous"] <= 1.0 + 1e-9
    speed, direction = s["speed"]["median"], s["direction"]["mean_rad"]
    fronts = front_time_velocity(ws.read_recording(widefield_npz))
    assert len(fronts) >= 20
    front_speed = float(np.median(fronts[:, 0]))
    front_dir = float(np.angle(np.mean(np.exp(1j * fronts[:, 1]))))
    assert 1 / 1.5 < speed / front_speed < 1.5
    assert abs(np.degrees(np.angle(np.exp(1j * (direction - front_dir))))) < 30
    assert 0.01 < speed < 0.1  # m/s: tens of mm/s, the range of ketamine slow waves
