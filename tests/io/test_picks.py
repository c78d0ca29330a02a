"""picks means the same for every input: channel names or indices select sites in every
format; channel types only where the format records them (MNE, BIDS: tests/io/
test_mne_objects.py), and a type given for any other input is refused, never ignored."""

import numpy as np
import pytest

from wavescope.core.errors import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import WidefieldOptions, read_recording, write_npz

#: Frame stacks read whole (no cortex mask to find in random frames).
WHOLE_FRAMES = WidefieldOptions(mask="all")


def _inputs_without_types(tmp_path):
    """An interchange .npz, a WaveField and a widefield .npz (pixel names from the frame
    reader): inputs that carry channel names but no channel types."""
    f = planar_wave(grid_positions(3, 3, 1e-3), fs=100, duration=1, frequency=5, speed=0.2)
    frames = np.random.default_rng(0).uniform(100, 200, (50, 4, 6))
    np.savez(tmp_path / "w.npz", frames=frames, fs_hz=10.0, pixel_size_m=1e-4)
    return {
        "npz": (write_npz(tmp_path / "x.npz", f), None),
        "wavefield": (f, None),
        "widefield-npz": (tmp_path / "w.npz", WHOLE_FRAMES),
    }


@pytest.mark.parametrize("kind", ["npz", "wavefield", "widefield-npz"])
def test_picks_by_name_or_index_select_those_sites_in_every_format(tmp_path, kind):
    source, frames = _inputs_without_types(tmp_path)[kind]
    whole = read_recording(source, widefield=frames)
    rng = np.random.default_rng(len(kind))
    for n in (1, 2, whole.n_sites - 1):
        idx = rng.choice(whole.n_sites, n, replace=False)
        names = [whole.ch_names[i] for i in idx]
        for picks in (names, [int(i) for i in idx]):
            got = read_recording(source, picks=picks, widefield=frames)
            assert got.ch_names == tuple(names)
            np.testing.assert_array_equal(got.data, np.asarray(whole.data)[idx])
            np.testing.assert_array_equal(got.positions, whole.positions[idx])
            np.testing.assert_array_equal(got.bad, whole.bad[idx])
            assert got.meta["picks"] == names
    one = read_recording(source, picks=whole.ch_names[-1], widefield=frames)
    assert one.ch_names == whole.ch_names[-1:]


@pytest.mark.parametrize("kind", ["npz", "wavefield", "widefield-npz"])
def test_picks_a_format_cannot_honour_are_refused_with_the_fix(tmp_path, kind):
    source, frames = _inputs_without_types(tmp_path)[kind]
    n = read_recording(source, widefield=frames).n_sites
    cases = [
        ("ecog", rf"'ecog' is a channel type, and a {kind} input records no channel types"),
        (["seeg"], "by name or index, or drop picks and mark channels bad instead"),
        (["no_such_channel"], "unknown channel.* in picks 'no_such_channel'"),
        ([n], rf"index {n} is out of range; .* {n} channels"),
        ([0, 0], "more than once"),
        ([], "selects no channel"),
        ([1.5], "neither a channel name nor an index"),
    ]
    for picks, message in cases:
        with pytest.raises(WaveInputError, match=message):
            read_recording(source, picks=picks, widefield=frames)


def test_pipelines_read_input_keeps_the_same_picks_contract(tmp_path):
    from wavescope.pipelines import ReadOptions, read_input

    for source, frames in _inputs_without_types(tmp_path).values():
        picks = list(read_recording(source, widefield=frames).ch_names[1:3])
        got = read_input(source, ReadOptions(picks=picks, widefield=frames))
        assert got.ch_names == tuple(picks)
        with pytest.raises(WaveInputError, match="is a channel type"):
            read_input(source, ReadOptions(picks=["ecog"], widefield=frames))
