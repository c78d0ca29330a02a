"""Reading through MNE: montage positions, bad channels, projection, epochs, errors."""

import mne
import numpy as np
import pytest

from wavescope.core.validate import WaveInputError
from wavescope.io import from_mne, project_positions, read_recording
from wavescope.waves import (
    circlinear_plane_fit,
    event_time_velocity,
    measure_velocity,
    xcorr_velocity,
)


def make_raw(n=16, sfreq=250.0, seconds=4.0, bads=(), montage=True, curved=False):
    rng = np.random.default_rng(0)
    names = [f"E{i}" for i in range(n)]
    info = mne.create_info(names, sfreq, "ecog")
    raw = mne.io.RawArray(
        rng.standard_normal((n, int(sfreq * seconds))) * 1e-5, info, verbose=False
    )
    if montage:
        side = int(np.sqrt(n))
        xy = np.array([(i % side, i // side) for i in range(n)], float) * 4e-3
        z = 0.03 - (xy**2).sum(1) * (3.0 if curved else 0.0)
        pos = np.column_stack([xy, z])
        raw.set_montage(mne.channels.make_dig_montage(dict(zip(names, pos)), coord_frame="head"))
    raw.info["bads"] = list(bads)
    return raw


def test_positions_from_montage_in_metres_and_bads_masked():
    raw = make_raw(bads=["E3"])
    f = from_mne(raw)
    assert f.n_sites == 16 and f.space_unit == "m" and f.n_dims == 2
    assert f.bad.tolist() == [n == "E3" for n in f.ch_names]
    d = np.linalg.norm(f.positions[0] - f.positions[1])
    assert d == pytest.approx(4e-3, rel=1e-6)  # flat grid: plane projection keeps distances
    f3 = from_mne(raw, projection=None)
    assert f3.n_dims == 3


def test_sphere_projection_preserves_distances_from_the_centre():
    # points on a sphere of radius 40 mm: arc length from the pole is preserved exactly
    r = 0.04
    th = np.linspace(0.01, 0.3, 20)
    ph = np.linspace(0, 2 * np.pi, 20)
    pts = r * np.column_stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)])
    pts = np.vstack([pts, [0, 0, r]])
    xy, info = project_positions(pts, "sphere")
    assert info["radius"] == pytest.approx(r, rel=1e-6)
    centre = xy[-1]
    # the pole of the projection is the mean direction, close to (0, 0, r); distances between
    # pairs near the pole match the great-circle distance to 2%
    chord = np.linalg.norm(pts[0] - pts[-1])
    arc = 2 * r * np.arcsin(chord / (2 * r))
    assert np.linalg.norm(xy[0] - centre) == pytest.approx(arc, rel=0.05)


def test_epochs_become_one_field_each():
    raw = make_raw()
    ep = mne.make_fixed_length_epochs(raw, duration=1.0, preload=True, verbose=False)
    fields = from_mne(ep)
    assert len(fields) == len(ep) and fields[0].n_times == 250


def test_missing_positions_are_refused_with_the_fix():
    raw = make_raw(montage=False)
    with pytest.raises(WaveInputError, match="set_montage"):
        from_mne(raw)


def test_unreadable_and_corrupt_files(tmp_path):
    bad = tmp_path / "broken.fif"
    bad.write_bytes(b"\x00\x01not a fif file at all" * 10)
    with pytest.raises(WaveInputError, match="MNE could not read"):
        read_recording(bad)
    with pytest.raises(WaveInputError, match="no such file"):
        read_recording(tmp_path / "absent.edf")


def test_fif_roundtrip_through_read_recording(tmp_path):
    raw = make_raw(bads=["E0"])
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose=False)
    f = read_recording(path)
    assert f.bad[0] and f.n_sites == 16 and f.fs == 250.0


def test_real_sample_ecog_every_measure_runs(ecog_fif):
    f = read_recording(ecog_fif)
    assert f.n_sites == 320 and f.n_dims == 2  # the ECoG contacts, projected
    assert f.meta["projection"]["method"] == "plane"
    f3 = read_recording(ecog_fif, projection=None)
    assert f3.n_dims == 3 and np.all(np.isfinite(f3.positions))
    for method in ("phase-gradient", "circlinear", "event-time", "xcorr"):
        r = measure_velocity(f, (8, 20), method=method, n_surrogates=5)
        s = r.summary("all")  # every measure runs
        assert s["speed"]["unit"] == "m/s" and 0 <= s["wave_fraction"] <= 1
        if r.per_sample:
            assert np.isfinite(s["speed"]["median"])  # a speed at every valid sample
        # this recording has no wave epoch in 8-20 Hz (no organised phase that keeps its
        # direction) and its delays fit no plane (R^2 < 0.1): the default summary gives
        # no speed, and says why, rather than a number for a wave that is not there
        s = r.summary()
        if s["wave_fraction"] == 0:
            assert s["speed"]["median"] is None and s["warnings"]
    assert np.isfinite(event_time_velocity(f).speed)
    assert np.isfinite(xcorr_velocity(f).speed)
    sph = read_recording(ecog_fif, projection="sphere")
    assert np.isfinite(measure_velocity(sph, (8, 20), n_surrogates=0).summary()["pgd"]["median"])
    ph = np.angle(np.exp(1j * np.random.default_rng(0).uniform(0, 6, (320, 3))))
    assert circlinear_plane_fit(ph, f.positions).gradient.shape == (2, 3)
