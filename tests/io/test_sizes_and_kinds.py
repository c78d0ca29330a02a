"""Sizes are checked against the memory limit before anything is allocated, and inputs
that are not regular files are refused by their kind before they are opened (issue 20,
item 1). Each case is built here from a small file; the limit is lowered with
``wavescope.core.validate.MEMORY_LIMIT_BYTES`` where a small file must stand for a large
one. Every refusal exits 2, names the size and the limit, and changes no file.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from untouched import snapshot

import wavescope.core.validate as validate
from wavescope.cli.main import main
from wavescope.core.errors import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import read_npz, read_recording, write_npz


def _velocity(path, tmp_path, capsys) -> tuple[int, str]:
    before = snapshot(tmp_path)
    code = main(["velocity", str(path), "--json", str(tmp_path / "out.json")])
    assert snapshot(tmp_path) == before, "a refused command changed a file"
    return code, capsys.readouterr().err


def _positions(n_sites):
    side = int(np.sqrt(n_sites))
    return grid_positions(side, side, 1e-3)


def test_an_hdf5_dataset_declaring_petabytes_is_refused_before_reading(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:  # 1.4 KB on disk: the chunks are never written
        d = f.create_dataset("frames", shape=(10**9, 4096, 4096), dtype="f4", chunks=(1, 64, 64))
        d.attrs["fs_hz"], d.attrs["pixel_size_m"] = 50.0, 1e-4
    assert path.stat().st_size < 10_000
    code, err = _velocity(path, tmp_path, capsys)
    assert code == 2
    assert "1000000000 frames of 4096 x 4096 pixels needs" in err
    assert "PiB, more than the" in err and "memory available (limit)" in err


def test_a_tiff_stack_larger_than_the_limit_is_refused(tmp_path, capsys, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "stack.tif"
    frames = np.random.default_rng(0).integers(100, 200, (20, 32, 32), dtype=np.uint16)
    tifffile.imwrite(path, frames, imagej=True, metadata={"finterval": 0.02, "unit": "um"},
                     resolution=(0.1, 0.1))  # fmt: skip
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 4096)
    code, err = _velocity(path, tmp_path, capsys)
    assert code == 2 and "20 frames of 32 x 32 pixels needs" in err and "4 KiB" in err


def test_an_npz_whose_bool_data_converts_to_too_much_float64_is_refused(
    tmp_path, capsys, monkeypatch
):
    """64 KiB of bool become 512 KiB of float64: the conversion counts against the limit."""
    path = tmp_path / "bool.npz"
    data = np.zeros((16, 4096), bool)
    np.savez_compressed(path, data=data, fs=np.float64(100.0), positions=_positions(16))
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 256 * 1024)
    code, err = _velocity(path, tmp_path, capsys)
    assert code == 2
    assert "64 KiB of bool plus 512 KiB once converted to float64" in err
    assert "more than the 256 KiB" in err
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 1024 * 1024)  # 576 KiB fit in 1 MiB
    assert read_npz(path).data.dtype == np.float64


def test_a_widefield_npz_bomb_is_refused_before_it_is_inflated(tmp_path, capsys, monkeypatch):
    path = tmp_path / "wf.npz"
    np.savez_compressed(
        path, frames=np.zeros((200, 64, 64), np.uint16), fs_hz=np.float64(50.0),
        pixel_size_m=np.float64(1e-4),
    )  # fmt: skip
    assert path.stat().st_size < 20_000  # 1.6 MB of frames inflated from a few kB
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 1 << 20)
    code, err = _velocity(path, tmp_path, capsys)
    assert code == 2 and "200 frames of 64 x 64 pixels needs" in err and "1 MiB" in err


def test_an_nwb_file_that_is_a_pipe_is_refused(tmp_path):
    os.mkfifo(tmp_path / "rec.nwb")
    with pytest.raises(WaveInputError, match="named pipe"):
        read_recording(tmp_path / "rec.nwb")


@pytest.mark.parametrize("name", ["rec.npz", "rec.h5", "rec.tif", "rec.fif"])
def test_a_named_pipe_is_refused_by_its_kind_without_waiting(tmp_path, capsys, name):
    os.mkfifo(tmp_path / name)  # opening it would wait for a writer forever
    code, err = _velocity(tmp_path / name, tmp_path, capsys)
    assert code == 2
    assert "is a named pipe (FIFO), not a regular file" in err


def test_a_link_to_dev_zero_is_refused_by_its_kind_without_reading(tmp_path, capsys):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    os.symlink("/dev/zero", tmp_path / "zero.npz")  # reading it would never end
    code, err = _velocity(tmp_path / "zero.npz", tmp_path, capsys)
    assert code == 2
    assert "(a link to /dev/zero) is a character device, not a regular file" in err


def test_the_readers_refuse_non_regular_files_when_called_directly(tmp_path):
    os.mkfifo(tmp_path / "p.npz")
    with pytest.raises(WaveInputError, match="named pipe"):
        read_npz(tmp_path / "p.npz")
    from wavescope.io.widefield import read_widefield

    with pytest.raises(WaveInputError, match="named pipe"):
        read_widefield(tmp_path / "p.npz")


def test_a_file_within_the_limit_still_reads(tmp_path, monkeypatch):
    f = planar_wave(grid_positions(4, 4, 1e-3), fs=100, duration=2, frequency=5, speed=0.3)
    path = write_npz(tmp_path / "ok.npz", f)
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 1 << 20)  # 26 kB of data
    assert read_npz(path).data.shape == (16, 200)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("data.npy").compress_type == zipfile.ZIP_STORED
    assert read_npz(path, mmap=True).meta["mmap"]
