"""Bad input never ends in an internal error, outputs never replace an input or a file
that appeared during the run, write failures are named, and damaged .npz data is never
measured (issue 20, items 2, 3, 5 and 8).

Every case is built here from a small file; each asserts the exit status, the message and
that no other file changed.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile

import numpy as np
import pytest
from untouched import snapshot

import wavescope.io.outputs as outputs
from wavescope.cli.main import main
from wavescope.core.errors import WaveFileExistsError, WaveInputError, WaveWriteError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import read_npz, write_npz
from wavescope.io.outputs import check_output_path, write_json


def _wave(tmp_path, name="rec.npz"):
    f = planar_wave(
        grid_positions(4, 4, 1e-3), fs=200.0, duration=3.0, frequency=10.0, speed=0.3, seed=0
    )
    return write_npz(tmp_path / name, f)


def _refused(argv, tmp_path, capsys, *message) -> str:
    """Run the command, assert exit 2, every ``message`` part, and no file changed."""
    before = snapshot(tmp_path)
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    for part in message:
        assert part in err, err
    assert "internal error" not in err
    assert snapshot(tmp_path) == before, "a refused command changed a file"
    return err


# ------------------------------------------------------------------ item 2: bad input
def test_an_npz_meta_nested_beyond_the_recursion_limit_is_refused(tmp_path, capsys):
    f = planar_wave(grid_positions(4, 4, 1e-3), fs=200.0, duration=2.0, frequency=10.0, speed=0.3)
    path = tmp_path / "deep.npz"
    np.savez(path, data=f.data, fs=np.float64(f.fs), positions=f.positions,
             meta=np.str_("[" * 100_000 + "]" * 100_000))  # fmt: skip
    _refused(["velocity", path], tmp_path, capsys, "'meta' member nests JSON", "too deeply")


def _widefield(path, frames, fs=50.0):
    np.savez(path, frames=frames, fs_hz=fs, pixel_size_m=np.float64(1e-4))
    return path


def test_nan_in_widefield_frames_is_refused_naming_the_pixel(tmp_path, capsys):
    frames = np.random.default_rng(0).uniform(100, 200, (40, 16, 16))
    frames[7, 3, 5] = np.nan
    path = _widefield(tmp_path / "wf.npz", frames)
    _refused(["velocity", path], tmp_path, capsys, "NaN or infinite", "row 3, column 5")


def test_a_text_frame_rate_in_a_widefield_npz_is_refused(tmp_path, capsys):
    path = _widefield(tmp_path / "wf.npz", np.ones((10, 8, 8)), fs=np.str_("fast"))
    _refused(["velocity", path], tmp_path, capsys, "'fs_hz' must be a real scalar", "<U4")


@pytest.mark.parametrize(
    ("attrs", "named"),
    [
        ({"fs_hz": "fast", "pixel_size_m": 1e-4}, "attribute fs_hz of /frames"),
        ({"fs_hz": 50.0, "pixel_size_m": "small"}, "attribute pixel_size_m of /frames"),
        ({"fs_hz": np.arange(3.0), "pixel_size_m": 1e-4}, "must be one number"),
    ],
)
def test_hdf5_attributes_of_the_wrong_type_are_refused(tmp_path, capsys, attrs, named):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("frames", data=np.ones((10, 8, 8), "f4"))
        d.attrs.update(attrs)
    _refused(["velocity", path], tmp_path, capsys, named)


def test_a_tiff_with_valid_magic_and_random_content_is_refused(tmp_path, capsys):
    pytest.importorskip("tifffile")
    path = tmp_path / "rand.tif"
    path.write_bytes(b"II*\x00" + np.random.default_rng(1).bytes(2000))
    _refused(["velocity", path], tmp_path, capsys, "not a readable TIFF")


def test_compare_refuses_a_negative_permutation_count_with_any_group_size(tmp_path, capsys):
    recs = [_wave(tmp_path, f"r{i}.npz") for i in range(3)]
    msg = "--permutations must be an integer >= 1, got -5"
    for group in (recs, recs[:1]):  # 3 subjects: tested; 1: no test, still refused
        argv = ["compare", *[f"a={p}" for p in group], "--permutations", "-5",
                "--report", tmp_path / "c.html", "--no-progress"]  # fmt: skip
        _refused(argv, tmp_path, capsys, msg)


def _fail(code):
    def fsync(fd):
        raise OSError(code, os.strerror(code))

    return fsync


@pytest.mark.parametrize(
    ("code", "named"),
    [(errno.ENOSPC, "No space left on device (ENOSPC)"), (errno.EACCES, "(EACCES)")],
)
def test_a_full_disk_or_a_refused_write_is_reported_and_leaves_no_file(
    tmp_path, capsys, monkeypatch, code, named
):
    path = _wave(tmp_path)
    monkeypatch.setattr(os, "fsync", _fail(code))
    _refused(["velocity", path, "--band", "8", "12", "--plot", tmp_path / "fig.png"],
             tmp_path, capsys, f"could not write {tmp_path / 'fig.png'}", named,
             "nothing was written")  # fmt: skip


def test_the_write_error_is_also_an_oserror(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _fail(errno.ENOSPC))
    with pytest.raises(OSError) as info:
        write_json(tmp_path / "x.json", {"a": 1})
    assert isinstance(info.value, WaveWriteError)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------- item 3: no file replaced
def test_compare_never_replaces_an_input_even_with_overwrite(tmp_path, capsys):
    recs = [_wave(tmp_path, f"r{i}.npz") for i in range(3)]
    curve = tmp_path / "curve_in.json"
    curve.write_text('{"kept": true}\n')
    linked = tmp_path / "linked.json"
    os.link(curve, linked)  # the same file under another name
    for out in (curve, linked):
        argv = ["compare", *[f"a={p}" for p in recs], "--memory", f"a={curve}",
                "--report", tmp_path / "c.html", "--json", out, "--overwrite",
                "--no-progress"]  # fmt: skip
        _refused(argv, tmp_path, capsys, "is an input of this run", "even with --overwrite")
    assert json.loads(curve.read_text()) == {"kept": True}


def test_compare_never_replaces_a_run_folder_metrics_file(tmp_path, capsys):
    recs = [_wave(tmp_path, f"r{i}.npz") for i in range(3)]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    argv = ["compare", *[f"a={p}" for p in recs], "--metrics", f"a={run}",
            "--report", tmp_path / "c.html", "--json", run / "metrics.jsonl", "--overwrite",
            "--no-progress"]  # fmt: skip
    _refused(argv, tmp_path, capsys, "is an input of this run")


def test_a_file_that_appears_during_the_run_is_not_replaced(tmp_path, capsys, monkeypatch):
    """Two `velocity --json race.json` at once: the second to finish must fail."""
    path = _wave(tmp_path)
    race = tmp_path / "race.json"
    stale = outputs.remove_stale_temps

    def rival_writes_first(p):  # runs as the write starts, after the check and the work
        if os.fspath(p) == os.fspath(race) and not race.exists():
            race.write_text('{"first": true}\n')
        return stale(p)

    monkeypatch.setattr(outputs, "remove_stale_temps", rival_writes_first)
    assert main(["velocity", str(path), "--band", "8", "12", "--json", str(race)]) == 2
    err = capsys.readouterr().err
    assert "appeared while this command ran" in err and "was not replaced" in err
    assert json.loads(race.read_text()) == {"first": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.json", "rec.npz"]


def test_overwrite_still_replaces_and_unchecked_writes_replace(tmp_path):
    out = tmp_path / "o.json"
    check_output_path(out, overwrite=False)
    out.write_text("rival")
    with pytest.raises(WaveFileExistsError, match="appeared while"):
        write_json(out, {"a": 1})
    assert out.read_text() == "rival"
    check_output_path(out, overwrite=True)
    write_json(out, {"a": 2})
    assert json.loads(out.read_text()) == {"a": 2}
    write_json(out, {"a": 3})  # a path never checked (a run folder's own file) is replaced
    assert json.loads(out.read_text()) == {"a": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json"]


# ------------------------------------------------------------ item 5: integrity
def _corrupt_data_byte(path):
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("data.npy")
        assert info.compress_type == zipfile.ZIP_STORED
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw = bytearray(path.read_bytes())
    raw[start] ^= 0xFF  # one data byte: the archive still opens, its CRC no longer matches
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("mmap", [True, "auto", False])
def test_npz_data_whose_crc_does_not_match_is_refused_mapped_or_loaded(tmp_path, mmap):
    path = _wave(tmp_path)
    _corrupt_data_byte(path)
    with pytest.raises(WaveInputError, match="CRC"):
        read_npz(path, mmap=mmap)


def test_velocity_refuses_a_recording_whose_data_bytes_were_overwritten(tmp_path, capsys):
    path = _wave(tmp_path)
    _corrupt_data_byte(path)
    _refused(["velocity", path, "--json", tmp_path / "o.json"], tmp_path, capsys, "Bad CRC-32")


def test_a_nul_byte_in_an_argument_is_a_usage_error_not_a_crash(tmp_path, capsys):
    _refused(["velocity", "a\x00b.npz"], tmp_path, capsys, "input: a NUL byte")


def test_out_of_memory_and_a_full_disk_outside_the_writers_exit_2(tmp_path, capsys, monkeypatch):
    import wavescope.pipelines.recording as recording

    path = _wave(tmp_path)
    for exc, named in (
        (MemoryError(), "out of memory"),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device (ENOSPC)"),
    ):

        def fail(*a, exc=exc, **k):
            raise exc

        monkeypatch.setattr(recording, "measure_recording", fail)
        _refused(["velocity", path], tmp_path, capsys, named)


def test_an_empty_output_name_is_refused(tmp_path, capsys):
    path = _wave(tmp_path)
    _refused(["velocity", path, "--json", ""], tmp_path, capsys, "--json is empty")


@pytest.mark.parametrize("name", ["", "/"])
def test_compare_refuses_a_report_name_that_names_no_file(tmp_path, capsys, name):
    recs = [_wave(tmp_path, f"r{i}.npz") for i in range(3)]
    argv = ["compare", *[f"a={p}" for p in recs], "--report", name, "--no-progress"]
    _refused(argv, tmp_path, capsys, f"--report {name!r} names no file")
