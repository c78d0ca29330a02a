"""NWB: electrical series with electrode tables and imaging series, written with pynwb."""

import datetime
import sys
from dataclasses import replace

import numpy as np
import pytest
from planar_truth import CASES, assert_measures_as, grid_wave

from wavescope.core.errors import MissingDependencyError, WaveInputError
from wavescope.io import RAW_FRAMES, WidefieldOptions, read_nwb, read_recording

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO, NWBFile  # noqa: E402
from pynwb.ecephys import ElectricalSeries  # noqa: E402
from pynwb.image import ImageSeries  # noqa: E402
from pynwb.ophys import OpticalChannel, TwoPhotonSeries  # noqa: E402

UV = 1e-6  # volts per count of the int16 samples written


def _nwbfile():
    return NWBFile(
        session_description="wavescope test",
        identifier="wavescope-test",
        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    )


def write_electrical(
    path,
    field,
    *,
    coords="relative",
    bad=(),
    extra_series=False,
    groups=1,
    unit_scale=1e6,
    subject_id=None,
):
    """Write ``field`` as an int16 ElectricalSeries (counts of 1 uV) with its electrode
    table; positions in microns (``unit_scale`` converts metres to the stored unit)."""
    nwb = _nwbfile()
    if subject_id is not None:
        from pynwb.file import Subject

        nwb.subject = Subject(subject_id=subject_id, species="Macaca mulatta")
    dev = nwb.create_device(name="utah")
    grp = [
        nwb.create_electrode_group(name=f"g{i}", description="array", location="M1", device=dev)
        for i in range(groups)
    ]
    nwb.add_electrode_column(name="bad", description="bad channel")
    nwb.add_electrode_column(name="label", description="channel label")
    for i, (x, y) in enumerate(field.positions * unit_scale):
        kw = {"rel_x": x, "rel_y": y, "rel_z": 0.0} if coords == "relative" else {}
        if coords == "brain":
            kw = {"x": x, "y": y, "z": 1000.0}
        nwb.add_electrode(
            group=grp[i % groups],
            location="M1",
            bad=field.ch_names[i] in bad,
            label=field.ch_names[i],
            **kw,
        )
    region = nwb.create_electrode_table_region(list(range(field.n_sites)), "all")
    counts = np.round(field.data.T * 1e-4 / UV).astype(np.int16)  # 100 uV amplitude
    nwb.add_acquisition(
        ElectricalSeries(name="lfp", data=counts, electrodes=region, rate=field.fs, conversion=UV)
    )
    if extra_series:
        nwb.add_acquisition(
            ElectricalSeries(name="raw", data=counts, electrodes=region, rate=field.fs)
        )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


@pytest.mark.parametrize("speed, direction, seed", CASES)
def test_utah_array_in_nwb_measures_as_in_memory(tmp_path, speed, direction, seed):
    truth = grid_wave(speed, direction, seed)
    path = tmp_path / "utah.nwb"
    write_electrical(path, truth)
    f = read_recording(path)
    assert f.space_unit == "m" and f.fs == truth.fs and f.n_sites == truth.n_sites
    # microns in the file, metres in the field; a flat array keeps its own x and y axes
    np.testing.assert_allclose(f.positions, truth.positions, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(f.data, truth.data * 1e-4, atol=0.51 * UV)  # int16 rounding
    assert f.meta["coordinates"] == "rel_x, rel_y, rel_z" and f.meta["groups"] == ["g0"]
    assert_measures_as(f, truth, speed, direction)


def test_brain_coordinates_preferred_and_units_other_than_microns(tmp_path):
    truth = grid_wave(0.3, 1.0, 3)
    write_electrical(tmp_path / "a.nwb", truth, coords="brain")
    f = read_nwb(tmp_path / "a.nwb")
    assert f.meta["coordinates"] == "x, y, z"
    np.testing.assert_allclose(f.positions, truth.positions, rtol=1e-6, atol=1e-12)
    # a file that stores millimetres: read with position_unit="mm"
    write_electrical(tmp_path / "mm.nwb", truth, unit_scale=1e3)
    f_mm = read_nwb(tmp_path / "mm.nwb", position_unit="mm")
    np.testing.assert_allclose(f_mm.positions, truth.positions, rtol=1e-6, atol=1e-12)
    # metres stored where microns belong: neighbours 0.4 nm apart are refused
    write_electrical(tmp_path / "m.nwb", truth, unit_scale=1.0)
    with pytest.raises(WaveInputError, match="position_unit"):
        read_nwb(tmp_path / "m.nwb")


def test_bad_column_and_bad_argument_mask_channels(tmp_path):
    truth = grid_wave(0.3, 0.2, 4)
    write_electrical(tmp_path / "b.nwb", truth, bad=("S003", "S010"))
    f = read_nwb(tmp_path / "b.nwb", bad=["S020"])
    assert sorted(np.asarray(f.ch_names)[f.bad]) == ["S003", "S010", "S020"]
    assert f.meta["bad_column"] == "bad"
    assert_measures_as(f, truth.with_bad(["S003", "S010", "S020"]), 0.3, 0.2)


def test_several_series_need_a_name(tmp_path):
    truth = grid_wave(0.3, 0.2, 5)
    write_electrical(tmp_path / "two.nwb", truth, extra_series=True)
    with pytest.raises(WaveInputError, match=r"lfp \(ElectricalSeries.*choose one with series="):
        read_nwb(tmp_path / "two.nwb")
    assert read_recording(tmp_path / "two.nwb", series="raw").meta["series"] == "raw"
    with pytest.raises(WaveInputError, match="no series named 'nope'"):
        read_nwb(tmp_path / "two.nwb", series="nope")


def test_relative_positions_across_groups_need_one_group(tmp_path):
    truth = grid_wave(0.3, 0.2, 6)
    write_electrical(tmp_path / "g.nwb", truth, groups=2)
    with pytest.raises(WaveInputError, match="group="):
        read_nwb(tmp_path / "g.nwb")
    f = read_nwb(tmp_path / "g.nwb", group="g1")
    assert f.n_sites == truth.n_sites // 2 and f.meta["groups"] == ["g1"]


def test_missing_positions_name_the_columns_looked_for(tmp_path):
    nwb = _nwbfile()
    dev = nwb.create_device(name="d")
    g = nwb.create_electrode_group(name="g", description="d", location="M1", device=dev)
    for _ in range(4):
        nwb.add_electrode(group=g, location="M1")
    region = nwb.create_electrode_table_region([0, 1, 2, 3], "all")
    nwb.add_acquisition(
        ElectricalSeries(name="lfp", data=np.zeros((50, 4)), electrodes=region, rate=100.0)
    )
    with NWBHDF5IO(str(tmp_path / "nopos.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(WaveInputError, match=r"x, y, z.*rel_x, rel_y, rel_z.*electrodes"):
        read_nwb(tmp_path / "nopos.nwb")


def test_missing_pynwb_names_the_extra(tmp_path, monkeypatch):
    truth = grid_wave(0.3, 0.2, 7)
    write_electrical(tmp_path / "x.nwb", truth)
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb now fails
    with pytest.raises(MissingDependencyError, match=r"wavescope\[nwb\]"):
        read_recording(tmp_path / "x.nwb")


# ------------------------------------------------------------------------ imaging
def frame_wave(speed, direction, seed, *, n_rows=16, n_cols=20, pixel=50e-6, fs=100.0):
    """Frames (time, rows, cols) of camera counts carrying a plane wave, and the truth."""
    from wavescope.datasets import grid_positions, planar_wave

    f = planar_wave(
        grid_positions(n_rows, n_cols, pixel),
        fs=fs,
        duration=3.0,
        frequency=10.0,
        speed=speed,
        direction=direction,
        snr_db=10,
        seed=seed,
    )
    frames = (1000.0 + 50.0 * f.data.T).reshape(-1, n_rows, n_cols)
    return np.round(frames).astype(np.uint16), f


def in_memory_widefield(frames, fs, pixel, bin_factor=2):
    """The preprocessing of the whole stack in memory, step by step (reference)."""
    from widefield_reference import widefield_reference

    return widefield_reference(frames, fs, pixel, bin_factor=bin_factor)


def write_imaging(path, frames, fs, *, spacing=None, fov=None, kind="two-photon"):
    nwb = _nwbfile()
    dev = nwb.create_device(name="camera")
    data = frames.transpose(0, 2, 1)  # NWB: (frames, x = width, y = height)
    if kind == "two-photon":
        oc = OpticalChannel(name="green", description="GCaMP", emission_lambda=525.0)
        kw = {} if spacing is None else {"grid_spacing": spacing, "grid_spacing_unit": "meters"}
        plane = nwb.create_imaging_plane(
            name="plane",
            optical_channel=oc,
            description="cortex",
            device=dev,
            excitation_lambda=470.0,
            indicator="GCaMP6f",
            location="cortex",
            **kw,
        )
        series = TwoPhotonSeries(
            name="frames",
            data=data,
            imaging_plane=plane,
            rate=fs,
            unit="counts",
            **({} if fov is None else {"field_of_view": fov}),
        )
    else:
        series = ImageSeries(name="frames", data=data, rate=fs, unit="counts")
    nwb.add_acquisition(series)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


@pytest.mark.parametrize("speed, direction, seed", [(0.05, 0.4, 0), (0.08, -2.5, 1)])
def test_two_photon_series_measures_as_in_memory(tmp_path, speed, direction, seed):
    frames, _ = frame_wave(speed, direction, seed)
    write_imaging(tmp_path / "img.nwb", frames, 100.0, spacing=[50e-6, 50e-6])
    opts = WidefieldOptions(mask="all", chunk_frames=64)  # several chunks of frames
    f = read_recording(tmp_path / "img.nwb", widefield=opts)
    ref = in_memory_widefield(frames, 100.0, 50e-6)
    assert f.n_sites == ref.n_sites == 8 * 10 and f.meta["pixel_size_m"] == (50e-6, 50e-6)
    np.testing.assert_allclose(f.positions, ref.positions, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.data, ref.data, atol=1e-5 * np.abs(ref.data).max())
    assert_measures_as(f, ref, speed, direction)


def test_imaging_spacing_from_field_of_view_or_refused(tmp_path):
    frames, _ = frame_wave(0.05, 0.4, 2)
    write_imaging(tmp_path / "plain.nwb", frames, 100.0, kind="image")
    with pytest.raises(WaveInputError, match=r"imaging plane.*field_of_view.*pixel_size_m"):
        read_nwb(tmp_path / "plain.nwb")
    f = read_nwb(
        tmp_path / "plain.nwb", pixel_size_m=50e-6, options=replace(RAW_FRAMES, mask="all")
    )
    np.testing.assert_array_equal(f.data, frames.reshape(len(frames), -1).T)
    write_imaging(tmp_path / "nospacing.nwb", frames, 100.0)
    with pytest.raises(WaveInputError, match="grid_spacing"):
        read_nwb(tmp_path / "nospacing.nwb")
    # field of view (width = x over columns, height = y over rows, metres) / pixels
    n_rows, n_cols = frames.shape[1:]
    write_imaging(tmp_path / "fov.nwb", frames, 100.0, fov=[n_cols * 40e-6, n_rows * 60e-6])
    f = read_nwb(tmp_path / "fov.nwb", options=replace(RAW_FRAMES, mask="all"))
    np.testing.assert_allclose(f.meta["pixel_size_m"], (40e-6, 60e-6), rtol=1e-6)
    np.testing.assert_allclose(f.positions[n_cols + 1], (40e-6, 60e-6), rtol=1e-6)


def test_imaging_is_read_in_chunks_never_whole(tmp_path, monkeypatch):
    frames, _ = frame_wave(0.05, 0.4, 3)
    write_imaging(tmp_path / "img.nwb", frames, 100.0, spacing=[50e-6, 50e-6])
    import h5py

    sizes = []
    get = h5py.Dataset.__getitem__

    def spy(self, key):
        out = get(self, key)
        if self.ndim == 3:
            sizes.append(np.shape(out)[0])
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    read_nwb(tmp_path / "img.nwb", options=replace(WidefieldOptions(), chunk_frames=50))
    assert sizes and max(sizes) <= 50 < len(frames)


def test_series_larger_than_the_memory_limit_are_refused_before_reading(tmp_path, monkeypatch):
    """Issue 20, item 1: the declared sizes of NWB series, electrical and imaging, are
    checked against the limit before any sample is read (the limit is lowered here)."""
    import wavescope.core.validate as validate

    truth = grid_wave(0.3, 0.5, 0)
    write_electrical(tmp_path / "utah.nwb", truth)
    frames, _ = frame_wave(0.3, 0.5, 0)
    write_imaging(tmp_path / "img.nwb", frames, 100.0, spacing=[50e-6, 50e-6])
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 4096)
    with pytest.raises(
        WaveInputError, match=r"series 'lfp' \(.* samples of float32\) needs 188 KiB"
    ):
        read_nwb(tmp_path / "utah.nwb")
    with pytest.raises(WaveInputError, match=r"300 frames of 16 x 20 pixels needs .*4 KiB"):
        read_nwb(tmp_path / "img.nwb")


def test_the_nwb_subject_id_is_the_recording_subject(tmp_path):
    """Comparisons count subjects, not files: ``subject.subject_id`` is read, and a file
    without one names none."""
    truth = grid_wave(0.3, 0.5, 0)
    write_electrical(tmp_path / "a.nwb", truth, subject_id="W")
    assert read_recording(tmp_path / "a.nwb").meta["subject"] == "W"
    write_electrical(tmp_path / "b.nwb", truth)
    assert "subject" not in read_recording(tmp_path / "b.nwb").meta
