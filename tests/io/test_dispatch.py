"""read_recording chooses the reader by object type, suffix and content."""

import numpy as np
import pytest

import wavescope as ws
from wavescope.core.errors import WaveFileNotFoundError, WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import WidefieldOptions, read_recording, recording_format, write_npz


def test_format_by_suffix_and_content(tmp_path):
    f = planar_wave(grid_positions(3, 3, 1e-3), fs=100, duration=1, frequency=5, speed=0.2)
    write_npz(tmp_path / "x.npz", f)
    np.savez(tmp_path / "w.npz", frames=np.ones((3, 2, 2)), fs_hz=10.0, pixel_size_m=1e-4)
    (tmp_path / "bids").mkdir()
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    (tmp_path / "plain").mkdir()
    for name in ("a.nwb", "a.tif", "a.TIFF", "a.h5", "a.hdf5", "a.ns2", "a.ns6", "a.edf"):
        (tmp_path / name).write_bytes(b"")
    kinds = {
        "x.npz": "npz",
        "w.npz": "widefield-npz",
        "bids": "bids",
        "a.nwb": "nwb",
        "a.tif": "tiff",
        "a.TIFF": "tiff",
        "a.h5": "hdf5",
        "a.hdf5": "hdf5",
        "a.ns2": "blackrock",
        "a.ns6": "blackrock",
        "a.edf": "mne",
    }
    for name, kind in kinds.items():
        assert recording_format(tmp_path / name) == kind, name
    assert recording_format(f) == "wavefield" and read_recording(f) is f
    with pytest.raises(WaveInputError, match="not a BIDS root"):
        read_recording(tmp_path / "plain")
    with pytest.raises(WaveFileNotFoundError):
        read_recording(tmp_path / "absent.nwb")


def test_interchange_npz_reads_as_before_and_options_are_checked(tmp_path):
    f = planar_wave(grid_positions(3, 3, 1e-3), fs=100, duration=1, frequency=5, speed=0.2)
    path = write_npz(tmp_path / "x.npz", f)
    g = read_recording(path, projection="plane")  # ignored for .npz, as before
    np.testing.assert_array_equal(g.data, f.data)
    assert read_recording(path, mmap=True).is_memmap
    with pytest.raises(WaveInputError, match=r"\['series'\] do not apply to a npz input.*mmap"):
        read_recording(path, series="lfp")
    with pytest.raises(WaveInputError, match="widefield= applies to frame stacks"):
        read_recording(path, widefield=WidefieldOptions())


def test_top_level_read_recording_dispatches_by_format(tmp_path):
    # the public entry point reads what each reader reads: an interchange .npz back to the
    # written samples, positions and units (exactly: float64 round trip), a WaveField as it
    # is, and a missing file as FileNotFoundError; a stub or a wrong reader fails here
    f = planar_wave(grid_positions(3, 4, 1e-3), fs=100, duration=1, frequency=5, speed=0.2)
    g = ws.read_recording(write_npz(tmp_path / "x.npz", f))
    np.testing.assert_array_equal(g.data, f.data)
    np.testing.assert_array_equal(g.positions, f.positions)
    assert (g.fs, g.space_unit, g.time_unit, g.ch_names) == (
        f.fs, f.space_unit, f.time_unit, f.ch_names
    )  # fmt: skip
    assert ws.read_recording(f) is f
    with pytest.raises(FileNotFoundError):
        ws.read_recording(tmp_path / "absent.npz")
