"""Widefield frame stacks: TIFF (multi-page, memory-mapped), HDF5 and the widefield .npz,
read chunk by chunk with the documented preprocessing in one call."""

import sys
from dataclasses import replace

import numpy as np
import pytest
from planar_truth import assert_measures_as
from widefield_reference import widefield_reference

from wavescope.core.errors import MissingDependencyError, WaveInputError, WaveTypeError
from wavescope.datasets import grid_positions, planar_wave, read_widefield_npz
from wavescope.io import (
    RAW_FRAMES,
    WidefieldOptions,
    frames_to_field,
    read_hdf5_frames,
    read_recording,
    read_tiff,
    read_widefield,
)

tifffile = pytest.importorskip("tifffile")
h5py = pytest.importorskip("h5py")

PIXEL = 50e-6
FS = 100.0
ALL = WidefieldOptions(mask="all", chunk_frames=64)
CASES = [(0.05, 0.4, 0), (0.08, -2.5, 1), (0.04, 1.9, 2)]


def frame_wave(speed, direction, seed, *, n_rows=16, n_cols=20):
    """uint16 camera counts (time, rows, cols) carrying a 10 Hz plane wave."""
    f = planar_wave(
        grid_positions(n_rows, n_cols, PIXEL),
        fs=FS,
        duration=3.0,
        frequency=10.0,
        speed=speed,
        direction=direction,
        snr_db=10,
        seed=seed,
    )
    return np.round(1000.0 + 50.0 * f.data.T).astype(np.uint16).reshape(-1, n_rows, n_cols)


def reference(frames, bin_factor=2):
    """The preprocessing of the whole stack in memory, written out step by step."""
    return widefield_reference(frames, FS, PIXEL, bin_factor=bin_factor)


def assert_same_field(f, ref):
    assert f.ch_names == ref.ch_names
    np.testing.assert_allclose(f.positions, ref.positions, rtol=1e-9, atol=1e-12)
    # float32 dF/F and sums in another order against float64: 1e-5 of the largest value
    np.testing.assert_allclose(f.data, ref.data, atol=1e-5 * np.abs(ref.data).max())


@pytest.mark.parametrize("bin_factor", [1, 2, 3])
def test_chunked_preprocessing_equals_the_in_memory_pipeline(bin_factor):
    frames = frame_wave(0.05, 0.4, 0)
    mask = np.zeros(frames.shape[1:], bool)
    mask[1:14, 2:19] = True  # a mask whose blocks do not all fit: partial blocks dropped
    opts = WidefieldOptions(mask=mask, bin_factor=bin_factor, chunk_frames=37)
    f = frames_to_field(frames, FS, PIXEL, opts)
    assert_same_field(f, widefield_reference(frames, FS, PIXEL, mask=mask, bin_factor=bin_factor))


@pytest.mark.parametrize("speed, direction, seed", CASES)
def test_tiff_imagej_stack_measures_as_in_memory(tmp_path, speed, direction, seed):
    frames = frame_wave(speed, direction, seed)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path,
        frames,
        imagej=True,
        resolution=(1 / 50.0, 1 / 50.0),  # pixels per micron
        metadata={"unit": "um", "finterval": 1 / FS, "axes": "TYX"},
    )
    f = read_recording(path, widefield=ALL)
    assert f.meta["read"] == "memmap" and f.meta["fs_from"] == "ImageJ finterval"
    assert f.fs == pytest.approx(FS) and f.meta["pixel_size_m"] == pytest.approx((PIXEL, PIXEL))
    ref = reference(frames)
    assert_same_field(f, ref)
    assert_measures_as(f, ref, speed, direction)


def test_tiff_pages_compressed_and_ome_metadata(tmp_path):
    frames = frame_wave(0.05, 0.4, 3)
    ome = tmp_path / "ome.tif"
    tifffile.imwrite(
        ome,
        frames,
        ome=True,
        metadata={
            "axes": "TYX",
            "PhysicalSizeX": 50.0,
            "PhysicalSizeXUnit": "\u00b5m",
            "PhysicalSizeY": 50.0,
            "PhysicalSizeYUnit": "\u00b5m",
            "TimeIncrement": 1 / FS,
            "TimeIncrementUnit": "s",
        },
    )
    f = read_tiff(ome, options=ALL)
    assert f.meta["pixel_size_from"] == "OME PhysicalSizeX/Y" and f.fs == pytest.approx(FS)
    # compressed pages written one by one, resolution tags in centimetres: decoded in chunks
    pages = tmp_path / "pages.tif"
    with tifffile.TiffWriter(pages) as w:
        for frame in frames:
            w.write(
                frame,
                compression="zlib",
                resolution=(1 / (PIXEL * 100), 1 / (PIXEL * 100)),
                resolutionunit="CENTIMETER",
            )
    g = read_tiff(pages, fs_hz=FS, options=ALL)
    assert g.meta["read"] == "pages" and g.meta["pixel_size_m"] == pytest.approx((PIXEL, PIXEL))
    assert_same_field(g, reference(frames))


def test_tiff_without_pixel_size_or_rate_names_where_it_looked(tmp_path):
    frames = frame_wave(0.05, 0.4, 4)
    tifffile.imwrite(tmp_path / "bare.tif", frames)
    with pytest.raises(WaveInputError, match=r"no pixel size.*ImageJ.*OME.*pixel_size_m="):
        read_tiff(tmp_path / "bare.tif", fs_hz=FS)
    with pytest.raises(WaveInputError, match=r"no frame rate.*finterval.*fs_hz="):
        read_tiff(tmp_path / "bare.tif", pixel_size_m=PIXEL)
    f = read_recording(tmp_path / "bare.tif", fs_hz=FS, pixel_size_m=PIXEL, widefield=ALL)
    assert_same_field(f, reference(frames))


@pytest.mark.parametrize("speed, direction, seed", CASES[:2])
def test_hdf5_dataset_measures_as_in_memory(tmp_path, speed, direction, seed):
    frames = frame_wave(speed, direction, seed)
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as h:
        g = h.create_group("imaging")
        g.attrs["fs_hz"] = FS  # on the group: found by walking up from the dataset
        d = g.create_dataset("frames", data=frames, chunks=(10, 16, 20))
        d.attrs["pixel_size_um"] = 50.0
    f = read_recording(path, widefield=ALL)
    assert f.meta["dataset"] == "/imaging/frames" and f.fs == FS
    ref = reference(frames)
    assert_same_field(f, ref)
    assert_measures_as(f, ref, speed, direction)


def test_hdf5_choice_of_dataset_and_missing_metadata(tmp_path):
    frames = frame_wave(0.05, 0.4, 5)
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as h:
        h["a"] = frames
        h["b"] = frames
    with pytest.raises(WaveInputError, match=r"2 3-D datasets \(/a, /b\).*dataset="):
        read_hdf5_frames(path)
    with pytest.raises(WaveInputError, match=r"no frame rate.*attributes of /a.*fs_hz="):
        read_hdf5_frames(path, dataset="/a", pixel_size_m=PIXEL)
    with pytest.raises(WaveInputError, match=r"no pixel size.*pixel_size_m="):
        read_hdf5_frames(path, dataset="/a", fs_hz=FS)
    f = read_recording(path, dataset="/b", fs_hz=FS, pixel_size_m=PIXEL, widefield=ALL)
    assert_same_field(f, reference(frames))


def test_widefield_npz_is_recognised_and_preprocessed(tmp_path):
    frames = frame_wave(0.05, 0.4, 6)
    path = tmp_path / "frames.npz"
    np.savez(path, frames=frames, fs_hz=FS, pixel_size_m=PIXEL)
    f = read_recording(path, widefield=ALL)
    assert f.meta["format"] == "widefield-npz" and f.meta["binned"] == 2
    assert_same_field(f, reference(frames))
    # the masked counts, unchanged, as the datasets reader gives them
    raw = read_widefield(path, replace(RAW_FRAMES, mask="all"))
    np.testing.assert_array_equal(raw.data, frames.reshape(len(frames), -1).T)
    old = read_widefield_npz(path, mask=np.ones(frames.shape[1:], bool))
    np.testing.assert_array_equal(old.data, raw.data)
    np.savez(tmp_path / "nopix.npz", frames=frames, fs_hz=FS)
    with pytest.raises(WaveInputError, match="pixel_size_m"):
        read_recording(tmp_path / "nopix.npz")


def test_options_are_checked():
    with pytest.raises(WaveInputError, match="background"):
        WidefieldOptions(background="median")
    with pytest.raises(WaveInputError, match="bin_factor"):
        WidefieldOptions(bin_factor=0)
    with pytest.raises(WaveTypeError, match="WidefieldOptions"):
        frames_to_field(np.ones((4, 3, 3)), FS, PIXEL, {"bin_factor": 2})
    with pytest.raises(WaveInputError, match="positive baseline"):
        frames_to_field(np.zeros((4, 3, 3)), FS, PIXEL, WidefieldOptions(mask="all"))


@pytest.mark.parametrize("module, suffix", [("tifffile", ".tif"), ("h5py", ".h5")])
def test_missing_imaging_extra_is_named(tmp_path, monkeypatch, module, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=r"wavescope\[imaging\]"):
        read_recording(path, fs_hz=FS, pixel_size_m=PIXEL)


@pytest.mark.realdata
def test_shared_widefield_recording_reads_in_one_call_as_the_documented_pipeline(
    widefield_npz,
):
    f = read_recording(widefield_npz)
    raw = read_widefield_npz(widefield_npz)  # the cortex mask's counts
    with np.load(widefield_npz) as z:
        frames, fs, pixel = z["frames"], float(z["fs_hz"]), float(z["pixel_size_m"])
    ref = widefield_reference(frames, fs, pixel, mask=raw.meta["mask"])
    assert f.ch_names == ref.ch_names and f.n_times == ref.n_times == 1000
    np.testing.assert_array_equal(f.meta["mask"], raw.meta["mask"])
    np.testing.assert_allclose(f.positions, ref.positions)
    np.testing.assert_allclose(f.data, ref.data, atol=1e-5 * np.abs(ref.data).max())
