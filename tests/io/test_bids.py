"""BIDS iEEG: datasets written with mne_bids.write_raw_bids, read back with positions
(electrodes.tsv + coordsystem.json units) and bad channels (channels.tsv)."""

import json
import sys

import mne
import numpy as np
import pytest
from planar_truth import CASES, assert_measures_as

from wavescope.core.errors import MissingDependencyError, WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import from_mne, read_bids, read_recording

mne_bids = pytest.importorskip("mne_bids")
pytest.importorskip("pybv")  # write_raw_bids converts to BrainVision with it

PITCH = 3e-3  # an ECoG grid, 3 mm
# MNE notes that an MNI montage has no fiducials; irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore:Fiducial point nasion not found")


def ecog_raw(speed, direction, seed, bads=()):
    """A 5 x 7 ECoG grid (rectangular: the plane projection has unique axes) carrying a
    10 Hz wave of 100 uV, montage in metres (MNI/fsaverage frame, as BIDS iEEG allows)."""
    f = planar_wave(
        grid_positions(5, 7, PITCH),
        fs=500.0,
        duration=2.0,
        frequency=10.0,
        speed=speed,
        direction=direction,
        snr_db=10,
        seed=seed,
    )
    names = [f"G{i:02d}" for i in range(f.n_sites)]
    info = mne.create_info(names, f.fs, "ecog")
    raw = mne.io.RawArray(f.data.astype(float) * 1e-4, info, verbose="error")
    pos = {n: (x, y, 0.04) for n, (x, y) in zip(names, f.positions)}
    raw.set_montage(mne.channels.make_dig_montage(pos, coord_frame="mni_tal"))
    raw.info["bads"] = list(bads)
    return raw


def write_bids(raw, root, **entities):
    bp = mne_bids.BIDSPath(subject="01", task="rest", datatype="ieeg", root=root, **entities)
    mne_bids.write_raw_bids(
        raw, bp, format="BrainVision", allow_preload=True, overwrite=True, verbose="error"
    )
    return bp


def sidecar(root, suffix):
    (path,) = sorted(root.rglob(f"*_{suffix}"))
    return path


@pytest.mark.parametrize("speed, direction, seed", CASES)
def test_bids_ieeg_measures_as_in_memory(tmp_path, speed, direction, seed):
    raw = ecog_raw(speed * 10, direction, seed)  # ECoG: macroscopic speeds, m/s
    write_bids(raw, tmp_path)
    f = read_recording(tmp_path, subject="01", task="rest")
    ref = from_mne(raw)
    assert f.ch_names == ref.ch_names and f.meta["coordinate_units"] == "m"
    assert f.meta["coordinate_system"] == "fsaverage"
    np.testing.assert_allclose(f.positions, ref.positions, atol=1e-9)
    assert_measures_as(f, ref, speed * 10)


def test_positions_in_millimetres_are_converted(tmp_path):
    raw = ecog_raw(3.0, 0.5, 3)
    write_bids(raw, tmp_path)
    tsv, js = sidecar(tmp_path, "electrodes.tsv"), sidecar(tmp_path, "coordsystem.json")
    lines = tsv.read_text().splitlines()
    head = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        for c in ("x", "y", "z"):
            i = head.index(c)
            cells[i] = repr(float(cells[i]) * 1e3)
        rows.append("\t".join(cells))
    tsv.write_text("\n".join([lines[0], *rows]) + "\n")
    cs = json.loads(js.read_text())
    cs["iEEGCoordinateUnits"] = "mm"
    js.write_text(json.dumps(cs))
    f = read_bids(tmp_path, subject="01", projection=None)
    assert f.meta["coordinate_units"] == "mm"
    expected = np.array([raw.info["chs"][i]["loc"][:3] for i in range(len(raw.ch_names))])
    np.testing.assert_allclose(f.positions, expected, atol=1e-9)
    cs["iEEGCoordinateUnits"] = "pixels"
    js.write_text(json.dumps(cs))
    with pytest.raises(WaveInputError, match=r"iEEGCoordinateUnits is 'pixels'"):
        read_bids(tmp_path, subject="01")


def test_bad_channels_from_channels_tsv(tmp_path):
    raw = ecog_raw(3.0, 0.5, 4, bads=["G03", "G11"])
    write_bids(raw, tmp_path)
    assert "\tbad\t" in sidecar(tmp_path, "channels.tsv").read_text()
    f = read_bids(tmp_path, subject="01")
    assert sorted(np.asarray(f.ch_names)[f.bad]) == ["G03", "G11"]


def test_missing_electrodes_tsv_names_where_it_looked(tmp_path):
    raw = ecog_raw(3.0, 0.5, 5)
    write_bids(raw, tmp_path)
    sidecar(tmp_path, "electrodes.tsv").unlink()
    with pytest.raises(WaveInputError, match=r"_electrodes\.tsv.*in .*ieeg"):
        read_bids(tmp_path, subject="01")


def test_choosing_the_recording(tmp_path):
    raw = ecog_raw(3.0, 0.5, 6)
    write_bids(raw, tmp_path, run="01")
    write_bids(raw, tmp_path, run="02")
    with pytest.raises(WaveInputError, match="subject="):
        read_recording(tmp_path)
    with pytest.raises(WaveInputError, match=r"2 ieeg recordings.*run="):
        read_bids(tmp_path, subject="01")
    with pytest.raises(WaveInputError, match=r"subjects present: \['01'\]"):
        read_bids(tmp_path, subject="02")
    f = read_bids(tmp_path, subject="01", run="02")
    assert "run-02" in f.meta["bids_path"]
    # a recording file inside the dataset: entities from its name
    g = read_bids(tmp_path / "sub-01" / "ieeg" / "sub-01_task-rest_run-01_ieeg.vhdr")
    assert "run-01" in g.meta["bids_path"] and g.n_sites == raw.info["nchan"]


def test_missing_mne_bids_names_the_extra(tmp_path, monkeypatch):
    write_bids(ecog_raw(3.0, 0.5, 7), tmp_path)
    monkeypatch.setitem(sys.modules, "mne_bids", None)
    with pytest.raises(MissingDependencyError, match=r"wavescope\[bids\]"):
        read_recording(tmp_path, subject="01")


def test_the_bids_subject_is_the_recording_subject(tmp_path):
    """Comparisons count subjects, not files: a BIDS recording carries its subject label
    (sessions are repeated measures of it)."""
    write_bids(ecog_raw(3.0, 0.5, 0), tmp_path)
    assert read_recording(tmp_path, subject="01", task="rest").meta["subject"] == "sub-01"
