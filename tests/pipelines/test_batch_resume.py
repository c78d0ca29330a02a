"""Batches keep what they finished: results written as each recording finishes, --resume.

A batch stopped midway (a recording that raises KeyboardInterrupt or SystemExit, as Ctrl-C
or a crashing library would) must leave the finished recordings' result files; the same
command with --resume measures only the others (counted by calls to the measuring step)
and writes the table and combined JSON of an uninterrupted run, byte for byte.
"""

import csv
import json

import pytest

import wavescope.pipelines.batch as batch
from wavescope import write_npz
from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.pipelines.batch import load_result, measure_many, summary_rows
from wavescope.pipelines.recording import VelocityOptions

SPEEDS = (0.15, 0.2, 0.25, 0.3)  # m/s, one small recording each (5 x 5 sites, 4 s)
NAMES = [f"rec{i}" for i in range(len(SPEEDS))]
VEL = VelocityOptions(band=(8.0, 12.0), method="phase-gradient")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("recs")
    for i, speed in enumerate(SPEEDS):
        f = planar_wave(
            grid_positions(5, 5, 0.4e-3),
            fs=250.0,
            duration=4.0,
            frequency=10.0,
            speed=speed,
            direction=0.4 + i,
            snr_db=10.0,
            seed=i,
        )
        write_npz(d / f"{NAMES[i]}.npz", f)
    return d


def _argv(folder, out, *extra, band=("8", "12")):
    return [
        "velocity", str(folder), "--band", *band, "--method", "phase-gradient",
        "--scheduler", "synchronous", "--out-dir", str(out / "each"),
        "--table", str(out / "table.csv"), "--json", str(out / "all.json"), *extra,
    ]  # fmt: skip


class Calls:
    """Stands in for measure_recording: records the recordings measured, raises
    ``fail[name]`` (an exception instance) for the recording of that name, and ``stop``
    at the ``stop_at``-th call (Dask picks the order of independent tasks, so the test
    stops by count, not by name)."""

    def __init__(self, monkeypatch, stop=None, stop_at=3, **fail):
        self.names, self.fail, self.stop, self.stop_at = [], fail, stop, stop_at
        self.real = getattr(batch.measure_recording, "real", batch.measure_recording)
        monkeypatch.setattr(batch, "measure_recording", self)

    def __call__(self, path, *args, **kw):
        name = batch.recording_stem(path)
        self.names.append(name)
        if self.stop is not None and len(self.names) == self.stop_at:
            raise self.stop
        if name in self.fail:
            raise self.fail[name]
        return self.real(path, *args, **kw)


@pytest.fixture(scope="module")
def uninterrupted(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert main(_argv(folder, out)) == 0
    return out


def _files(out):
    return sorted(p.name for p in (out / "each").iterdir())


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), SystemExit(1)], ids=["ctrl-c", "exit"])
def test_an_interrupted_batch_keeps_the_finished_and_resume_measures_only_the_rest(
    folder, uninterrupted, tmp_path, monkeypatch, capsys, stop
):
    calls = Calls(monkeypatch, stop=stop)
    if isinstance(stop, SystemExit):
        with pytest.raises(SystemExit):
            main(_argv(folder, tmp_path))
    else:
        assert main(_argv(folder, tmp_path)) == 130
    err = capsys.readouterr().err
    assert "2 of 4 recording(s) finished and kept" in err and "--resume" in err, err[-400:]
    finished, stopped = calls.names[:2], calls.names[2]
    assert _files(tmp_path) == sorted(f"{n}.json" for n in finished)  # kept, nothing else
    assert not (tmp_path / "table.csv").exists() and not (tmp_path / "all.json").exists()

    calls = Calls(monkeypatch)
    assert main(_argv(folder, tmp_path, "--resume")) == 0
    out = capsys.readouterr().out
    # the finished two are not measured again; the one stopped and the one never started are
    assert sorted(calls.names) == sorted(set(NAMES) - set(finished)) and stopped in calls.names
    assert "wrote 2 summaries" in out and "kept 2 summaries" in out
    for name in ("table.csv", "all.json"):  # as if never interrupted
        assert (tmp_path / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    for name in _files(uninterrupted):
        assert (tmp_path / "each" / name).read_bytes() == (
            uninterrupted / "each" / name
        ).read_bytes()


def test_result_files_hold_the_summary_its_options_and_table_row(folder, uninterrupted):
    doc = json.loads((uninterrupted / "each" / "rec1.json").read_text())
    assert doc["options"]["velocity"]["band"] == [8.0, 12.0]
    assert doc["options"]["velocity"]["method"] == "phase-gradient"
    # the stored row is the table's row; the speed within 3% of the truth (5 x 5 sites at
    # 10 dB: a correct result, not just a consistent one)
    row = next(
        r for r in csv.DictReader((uninterrupted / "table.csv").open()) if "rec1" in r["input"]
    )
    assert float(row["speed_median"]) == doc["table_row"]["speed_median"] == doc["speed"]["median"]
    assert doc["speed"]["median"] == pytest.approx(SPEEDS[1], rel=0.03)


def test_a_failing_recording_of_any_kind_is_reported_and_the_others_finish(
    folder, tmp_path, monkeypatch, capsys
):
    # not WaveInputErrors: an allocation that fails, and h5py's OSError on a damaged file
    h5 = OSError("Unable to synchronously open object (bad symbol table node signature)")
    calls = Calls(monkeypatch, rec1=MemoryError(), rec2=h5)
    assert main(_argv(folder, tmp_path)) == 1
    err = capsys.readouterr().err
    assert "rec1.npz failed: MemoryError: out of memory while reading or measuring it" in err
    assert "rec2.npz failed: OSError: Unable to synchronously open object" in err
    assert "2 of 4 recording(s) failed; --resume measures only them again" in err
    assert sorted(calls.names) == NAMES
    assert _files(tmp_path) == ["rec0.json", "rec3.json"]  # failures leave no result file
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert [r["ok"] for r in rows] == ["True", "False", "False", "True"]
    assert rows[1]["error"].startswith("MemoryError")

    calls = Calls(monkeypatch)  # the memory is back: --resume retries only the failures
    assert main(_argv(folder, tmp_path, "--resume", "--overwrite")) == 0
    assert sorted(calls.names) == ["rec1", "rec2"]
    assert _files(tmp_path) == [f"{n}.json" for n in NAMES]


def test_resume_with_other_options_is_refused_and_changes_nothing(
    folder, uninterrupted, tmp_path, monkeypatch, capsys
):
    (tmp_path / "each").mkdir()
    for name in _files(uninterrupted):
        (tmp_path / "each" / name).write_bytes((uninterrupted / "each" / name).read_bytes())
    before = {p.name: p.read_bytes() for p in (tmp_path / "each").iterdir()}
    calls = Calls(monkeypatch)
    assert main(_argv(folder, tmp_path, "--resume", band=("7", "13"))) == 2
    err = capsys.readouterr().err
    assert "measured with other options" in err
    assert "velocity.band: [8.0, 12.0] then, [7.0, 13.0] now" in err
    assert calls.names == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "each").iterdir()} == before
    assert not (tmp_path / "table.csv").exists()


def test_existing_results_without_resume_name_the_two_ways_on(
    folder, uninterrupted, tmp_path, monkeypatch, capsys
):
    calls = Calls(monkeypatch)
    argv = ["velocity", str(folder), "--band", "8", "12", "--method", "phase-gradient"]
    assert main([*argv, "--out-dir", str(uninterrupted / "each")]) == 2
    err = capsys.readouterr().err
    assert "pass --resume to keep the finished recordings" in err and "--overwrite" in err
    assert calls.names == []
    cases = [
        ([str(folder), "--resume"], "give that --out-dir"),
        ([str(folder / "rec0.npz"), "--resume"], "for many recordings"),
    ]
    for args, message in cases:
        assert main(["velocity", *args]) == 2, args
        assert message in capsys.readouterr().err


def test_resume_refuses_files_it_did_not_write(folder, tmp_path, capsys):
    each = tmp_path / "each"
    each.mkdir()
    # a single recording's --json output has no options: it cannot be trusted as finished
    assert main(["velocity", str(folder / "rec0.npz"), "--band", "8", "12",
                 "--json", str(each / "rec0.json")]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(_argv(folder, tmp_path, "--resume")) == 2
    assert "is not a result file of a batch run" in capsys.readouterr().err
    (each / "rec0.json").write_text("{truncated")
    assert main(_argv(folder, tmp_path, "--resume")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_python_resume_reads_back_the_same_rows(folder, tmp_path, monkeypatch):
    calls = Calls(monkeypatch, stop=KeyboardInterrupt(), stop_at=4)
    with pytest.raises(KeyboardInterrupt):
        measure_many(folder, VEL, scheduler="synchronous", out_dir=tmp_path)
    last = calls.names[-1]
    calls = Calls(monkeypatch)
    seen = []
    recs = measure_many(
        folder, VEL, scheduler="threads", out_dir=tmp_path, resume=True,
        progress=lambda d, t, r: seen.append((d, r.resumed)),
    )  # fmt: skip
    assert calls.names == [last]
    assert [r.resumed for r in recs] == [n != last for n in NAMES]
    assert seen == [(1, True), (2, True), (3, True), (4, False)]
    whole = measure_many(folder, VEL, scheduler="synchronous")
    assert summary_rows(recs) == summary_rows(whole)
    assert [r.to_json() for r in recs] == json.loads(json.dumps([r.to_json() for r in whole]))
    other = VelocityOptions(band=(8.0, 12.0), method="phase-gradient", summary_of="all")
    with pytest.raises(WaveInputError, match="summary_of: 'auto' then, 'all' now"):
        load_result(tmp_path / "rec0.json", folder / "rec0.npz", _options(other))
    with pytest.raises(WaveInputError, match="holds the result of"):
        load_result(tmp_path / "rec0.json", folder / "rec1.npz", _options(VEL))


def _options(vel):
    from wavescope.core.results import jsonable
    from wavescope.pipelines.recording import ReadOptions, options_json

    return jsonable(options_json(vel, ReadOptions()))
