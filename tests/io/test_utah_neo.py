"""Utah arrays: a Neo recording plus an electrode map (CSV/TSV or Blackrock .cmp) and
the array's pitch give grid positions in metres."""

import sys

import numpy as np
import pytest
from planar_truth import CASES, assert_measures_as, grid_wave

from wavescope.core.errors import MissingDependencyError, WaveFileNotFoundError, WaveInputError
from wavescope.io import from_neo, read_electrode_map, read_recording

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")

N_ROWS, N_COLS, PITCH = 6, 8, 0.4e-3


def neo_block(field, *, extra_channel=True, rng_seed=0):
    """The field's samples as a Neo Block in microvolts, channels in a shuffled order
    (a headstage does not follow the grid) labelled elecN with electrode ids N, plus an
    analogue input that is not on the array. Returns the block and the channel order."""
    rng = np.random.default_rng(rng_seed)
    order = rng.permutation(field.n_sites)  # channel k records grid site order[k]
    data = field.data[order].T.astype(float) * 100.0  # 100 uV amplitude
    labels = [f"elec{k + 1}" for k in range(field.n_sites)]
    ids = list(range(1, field.n_sites + 1))
    if extra_channel:
        data = np.column_stack([data, np.zeros(len(data))])
        labels.append("ainp1")
        ids.append(129)
    sig = neo.AnalogSignal(
        data,
        units="uV",
        sampling_rate=field.fs * pq.Hz,
        name="ns2",
        array_annotations={"channel_names": np.array(labels), "channel_ids": np.array(ids)},
    )
    seg = neo.Segment()
    seg.analogsignals.append(sig)
    block = neo.Block()
    block.segments.append(seg)
    return block, order


def write_csv_map(path, order, *, by="label", bad=(), sep=","):
    lines = [sep.join(["channel", "row", "col", "bad"])]
    for k, site in enumerate(order):
        key = f"elec{k + 1}" if by == "label" else str(k + 1)
        r, c = divmod(int(site), N_COLS)
        lines.append(sep.join([key, str(r), str(c), "1" if f"elec{k + 1}" in bad else "0"]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_cmp(path, order):
    """A Blackrock .cmp map: col row bank electrode label, banks of 32 electrodes."""
    lines = ["// Blackrock map file for a test array", "Cerebus mapping", ""]
    for k, site in enumerate(order):
        r, c = divmod(int(site), N_COLS)
        bank, elec = divmod(k, 32)
        lines.append(f"{c}\t{r}\t{'ABCD'[bank]}\t{elec + 1}\telec{k + 1}")
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


@pytest.mark.parametrize("speed, direction, seed", CASES)
@pytest.mark.parametrize("map_kind", ["csv", "tsv-by-id", "cmp"])
def test_neo_block_with_a_map_measures_as_in_memory(tmp_path, speed, direction, seed, map_kind):
    truth = grid_wave(speed, direction, seed, n_rows=N_ROWS, n_cols=N_COLS, pitch=PITCH)
    block, order = neo_block(truth, rng_seed=seed)
    if map_kind == "csv":
        emap = write_csv_map(tmp_path / "map.csv", order)
    elif map_kind == "tsv-by-id":
        emap = write_csv_map(tmp_path / "map.tsv", order, by="id", sep="\t")
    else:
        emap = write_cmp(tmp_path / "array.cmp", order)
    with pytest.warns(UserWarning, match=r"not in the electrode map.*ainp1"):
        f = read_recording(block, electrode_map=emap, pitch_m=PITCH)
    assert f.meta["unmapped_channels"] == ["ainp1"]
    assert f.n_sites == truth.n_sites and f.meta["unit"] == "V" and f.fs == truth.fs
    # channel k sits where the map puts it: at grid site order[k]
    np.testing.assert_allclose(f.positions, truth.positions[order], atol=1e-12)
    np.testing.assert_allclose(f.data, truth.data[order] * 1e-4, rtol=1e-6, atol=1e-12)
    assert_measures_as(f, truth, speed, direction)


def test_map_marks_bad_channels_and_bad_argument_adds_more(tmp_path):
    truth = grid_wave(0.3, 0.5, 3, n_rows=N_ROWS, n_cols=N_COLS, pitch=PITCH)
    block, order = neo_block(truth, extra_channel=False)
    emap = write_csv_map(tmp_path / "map.csv", order, bad=("elec5",))
    f = from_neo(block, emap, pitch_m=PITCH, bad=["elec9"])
    assert sorted(np.asarray(f.ch_names)[f.bad]) == ["elec5", "elec9"]


def test_map_format_errors(tmp_path):
    (tmp_path / "no_header.csv").write_text("elec1,0,0\nelec2,0,1\n")
    with pytest.raises(WaveInputError, match="channel,row,col"):
        read_electrode_map(tmp_path / "no_header.csv")
    (tmp_path / "twice.csv").write_text("channel,row,col\nelec1,0,0\nelec2,0,0\n")
    with pytest.raises(WaveInputError, match="share one grid position"):
        read_electrode_map(tmp_path / "twice.csv")
    (tmp_path / "empty.cmp").write_text("// nothing\nCerebus mapping\n")
    with pytest.raises(WaveInputError, match="col row bank electrode"):
        read_electrode_map(tmp_path / "empty.cmp")
    with pytest.raises(WaveFileNotFoundError):
        read_electrode_map(tmp_path / "absent.csv")


def test_cmp_banks_count_32_electrodes(tmp_path):
    # bank B electrode 3 is electrode id 35; unlabelled lines are keyed by that id
    p = tmp_path / "m.cmp"
    p.write_text("Cerebus mapping\n0 1 A 1\n2 3 B 3\n")
    m = read_electrode_map(p)
    assert m.ids == ("1", "35") and m.lookup("chan35", 35) == 1
    assert (m.rows.tolist(), m.cols.tolist()) == ([1, 3], [0, 2])


def test_positions_need_a_map(tmp_path):
    truth = grid_wave(0.3, 0.5, 4, n_rows=N_ROWS, n_cols=N_COLS, pitch=PITCH)
    block, _ = neo_block(truth)
    with pytest.raises(WaveInputError, match=r"electrode_map=.*pitch_m="):
        read_recording(block)
    ns = tmp_path / "session.ns2"
    ns.write_bytes(b"\x00" * 64)
    with pytest.raises(WaveInputError, match=r"electrode_map="):
        read_recording(ns)
    (tmp_path / "other.csv").write_text("channel,row,col\nX1,0,0\nX2,0,1\n")
    with pytest.raises(WaveInputError, match="no channel of the recording is in the electrode map"):
        from_neo(block, tmp_path / "other.csv")


def test_missing_neo_names_the_extra(tmp_path, monkeypatch):
    ns = tmp_path / "session.ns5"
    ns.write_bytes(b"\x00" * 64)
    emap = tmp_path / "map.csv"
    emap.write_text("channel,row,col\nelec1,0,0\n")
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(MissingDependencyError, match=r"wavescope\[neo\]"):
        read_recording(ns, electrode_map=emap)
