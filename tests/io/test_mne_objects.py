"""MNE objects in memory (Raw, Epochs, Evoked) and explicit channel-type picks."""

import warnings

import mne
import numpy as np
import pytest
from planar_truth import assert_measures_as

from wavescope.core.errors import WaveInputError, WaveTypeError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import from_mne, read_recording


def mixed_raw(n_depth=3, seed=0):
    """A 5 x 7 ECoG grid with a 10 Hz wave, plus sEEG depth contacts and a stim channel."""
    f = planar_wave(
        grid_positions(5, 7, 3e-3),
        fs=500.0,
        duration=2.0,
        frequency=10.0,
        speed=3.0,
        direction=0.8,
        snr_db=10,
        seed=seed,
    )
    grid = [f"G{i:02d}" for i in range(f.n_sites)]
    depth = [f"D{i}" for i in range(n_depth)]
    names = grid + depth + ["STI"]
    info = mne.create_info(names, f.fs, ["ecog"] * f.n_sites + ["seeg"] * n_depth + ["stim"])
    data = np.vstack([f.data * 1e-4, np.zeros((n_depth + 1, f.n_times))])
    raw = mne.io.RawArray(data, info, verbose="error")
    pos = {n: (x, y, 0.04) for n, (x, y) in zip(grid, f.positions)}
    pos.update({n: (0.01, 0.01 + 0.003 * i, 0.02) for i, n in enumerate(depth)})
    raw.set_montage(mne.channels.make_dig_montage(pos, coord_frame="head"))
    return raw, f


def test_read_recording_takes_an_in_memory_raw_and_names_what_it_dropped():
    raw, truth = mixed_raw()
    with pytest.warns(UserWarning, match=r"35 ecog.*left out 3 other brain.*seeg \(3\).*D0"):
        f = read_recording(raw)
    assert f.n_sites == 35 and f.meta["picks"] == ["ecog"]
    assert f.meta["dropped_channels"] == ["D0", "D1", "D2", "STI"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = from_mne(raw)
    assert_measures_as(f, ref, speed=3.0)


def test_explicit_picks_choose_the_type_without_a_warning():
    raw, _ = mixed_raw()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = from_mne(raw, picks="seeg", projection=None)
        g = read_recording(raw, picks=["ecog"])
    assert f.ch_names == ("D0", "D1", "D2") and f.n_dims == 3 and g.n_sites == 35
    assert "G00" in f.meta["dropped_channels"]


def test_absent_picks_type_lists_the_types_present():
    raw, _ = mixed_raw()
    with pytest.raises(WaveInputError, match=r"no channel of type.*'eeg'.*ecog \(35\), seeg \(3\)"):
        from_mne(raw, picks=["eeg"])
    with pytest.raises(WaveInputError, match=r"types present: .*stim \(1\)"):
        from_mne(raw, picks="nonexistent_channel_name")
    only_stim = mne.io.RawArray(
        np.zeros((1, 10)), mne.create_info(["STI"], 100.0, "stim"), verbose="error"
    )
    with pytest.raises(WaveInputError, match=r"no ECoG/sEEG/DBS/EEG.*stim \(1\)"):
        from_mne(only_stim)


def test_evoked_and_epochs_in_memory():
    raw, _ = mixed_raw()
    raw.pick(["ecog"])
    epochs = mne.make_fixed_length_epochs(raw, duration=0.5, preload=True, verbose="error")
    fields = read_recording(epochs)
    assert len(fields) == len(epochs) == 4 and fields[2].meta["epoch"] == 2
    evoked = epochs.average()
    f = read_recording(evoked)
    assert f.meta["kind"] == "evoked" and f.meta["nave"] == 4
    np.testing.assert_allclose(f.data, evoked.data, rtol=1e-6)


def test_other_objects_are_a_type_error():
    with pytest.raises(WaveTypeError, match="WaveField.from_array"):
        read_recording(np.zeros((3, 10)))
    with pytest.raises(WaveTypeError, match="Raw, Epochs or Evoked"):
        from_mne("not an mne object")


@pytest.mark.realdata
def test_sample_ecog_file_names_its_74_seeg_channels(ecog_fif):
    with pytest.warns(UserWarning, match=r"320 ecog.*left out 74 other brain.*seeg \(74\)"):
        f = read_recording(ecog_fif)
    assert len(f.meta["dropped_channels"]) == 74
    seeg = read_recording(ecog_fif, picks="seeg")
    assert seeg.n_sites == 74 and seeg.ch_names[0] == f.meta["dropped_channels"][0]


@pytest.mark.parametrize("direction", [0.5, 2.0, -2.6])
def test_a_square_grid_keeps_its_axes_and_directions(direction):
    """A square 8 x 8 grid in the head frame's x-y plane: the plane projection keeps x and
    y (principal axes alone turn a square grid by an arbitrary angle: a wave at 28.6 deg
    read 118.6 deg), so the direction measured is the wave's, within 2 deg (the 0 dB
    Cramer-Rao sd of the recording's direction here is about 0.2 deg)."""
    from wavescope.waves import measure_velocity

    f = planar_wave(
        grid_positions(8, 8, 1e-3), fs=500.0, duration=4.0, frequency=10.0, speed=0.3,
        direction=direction, snr_db=0, seed=1,
    )  # fmt: skip
    names = [f"G{i:02d}" for i in range(f.n_sites)]
    raw = mne.io.RawArray(f.data * 1e-4, mne.create_info(names, f.fs, "ecog"), verbose="error")
    pos = {n: (x, y, 0.05) for n, (x, y) in zip(names, f.positions)}
    raw.set_montage(mne.channels.make_dig_montage(pos, coord_frame="head"))
    field = read_recording(raw)
    np.testing.assert_allclose(field.positions, f.positions - f.positions.mean(0), atol=1e-12)
    d = measure_velocity(field, (8, 12)).summary()["direction"]["mean_rad"]
    assert abs(np.degrees(np.angle(np.exp(1j * (d - direction))))) < 2


def test_mne_subject_info_names_the_subject():
    """``subject_info`` (his_id, else id) is the recording's subject; none, no subject."""
    raw, _ = mixed_raw()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "subject" not in from_mne(raw).meta
        raw.info["subject_info"] = {"id": 7, "his_id": "monkey-W"}
        assert from_mne(raw).meta["subject"] == "monkey-W"
        raw.info["subject_info"] = {"id": 7}
        assert from_mne(raw).meta["subject"] == "7"
