"""Many recordings through Dask: same results as the serial run, table, clear errors."""

import csv
import json
import sys

import numpy as np
import pytest

from wavescope import write_npz
from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.pipelines.batch import (
    find_recordings,
    measure_many,
    measure_one,
    output_names,
    summary_rows,
)
from wavescope.pipelines.recording import VelocityOptions

SPEEDS = (0.15, 0.2, 0.25)  # m/s, one recording each: the truth every summary must recover
BAND = (8.0, 12.0)
VEL = VelocityOptions(band=BAND, method="phase-gradient", summary_of="all")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("recs")
    for i, speed in enumerate(SPEEDS):
        f = planar_wave(
            grid_positions(6, 6, 0.4e-3),
            fs=500.0,
            duration=6.0,
            frequency=10.0,
            speed=speed,
            direction=0.4 + i,
            snr_db=5.0,
            seed=i,
        )
        write_npz(d / f"rec{i}.npz", f)
    (d / "notes.txt").write_text("not a recording")  # ignored in a folder
    return d


@pytest.fixture(scope="module")
def serial(folder):
    return [measure_one(p, VEL) for p in sorted(folder.glob("rec*.npz"))]


@pytest.fixture
def with_broken(folder, tmp_path):
    # the three good recordings plus one corrupt file, in a folder of their own
    for p in folder.glob("rec*.npz"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "rec9-broken.npz").write_bytes(b"PK\x03\x04 truncated")
    return tmp_path


def test_serial_summaries_recover_the_true_speeds(serial):
    # 6 x 6 grid (2 mm) at 5 dB: wavelengths of 15-25 mm, median speed within 3% of the truth
    # (measured: 0.4%, 0.4%, 2.2%), so the comparisons below are between correct results
    assert [r.ok for r in serial] == [True] * 3
    for r, speed in zip(serial, SPEEDS):
        assert r.summary.speed_median == pytest.approx(speed, rel=0.03)


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_local_schedulers_equal_the_serial_run(folder, serial, scheduler):
    seen = []
    recs = measure_many(
        folder, VEL, scheduler=scheduler, workers=2, progress=lambda d, t, r: seen.append((d, t))
    )
    assert recs == serial  # same computation per task: equal, not just close
    assert seen[-1] == (3, 3) and len(seen) == 3


def test_local_distributed_cluster_of_two_workers_equals_the_serial_run(folder, serial):
    distributed = pytest.importorskip("distributed")
    # processes=True: two worker processes, each importing wavescope (a few seconds)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        done = []
        recs = measure_many(
            str(folder / "rec*.npz"),
            VEL,
            scheduler=cluster.scheduler_address,
            progress=lambda d, t, r: done.append(r.input),
        )
        with distributed.Client(cluster) as client:  # a Client the caller holds works too
            again = measure_many(folder, VEL, scheduler=client)
    assert recs == serial and again == serial
    assert sorted(done) == sorted(r.input for r in serial)


def test_a_failing_recording_is_reported_and_the_others_kept(with_broken, serial):
    recs = measure_many(with_broken, VEL, scheduler="threads")
    assert [r.ok for r in recs] == [True, True, True, False]
    assert recs[3].input.endswith("rec9-broken.npz")
    assert "WaveInputError" in recs[3].error and "rec9-broken.npz" in recs[3].error
    for got, ref in zip(recs[:3], serial):
        assert got.summary.to_json()["speed"] == ref.summary.to_json()["speed"]
    rows = summary_rows(recs)
    assert rows[3]["ok"] is False and rows[3]["error"] == recs[3].error
    assert rows[0]["speed_median"] == recs[0].summary.speed_median


def test_find_recordings_files_folders_globs_and_errors(folder, tmp_path):
    recs = sorted(folder.glob("rec*.npz"))
    assert find_recordings(folder) == recs  # notes.txt left out
    assert find_recordings(str(folder / "rec[01].npz")) == recs[:2]
    # given twice (file + folder): once, in the order first given
    assert find_recordings([recs[2], folder]) == [recs[2], recs[0], recs[1]]
    with pytest.raises(WaveInputError, match="matches no file"):
        find_recordings(str(folder / "nothing*.npz"))
    with pytest.raises(WaveInputError, match="no such file or folder"):
        find_recordings(str(folder / "missing.npz"))
    with pytest.raises(WaveInputError, match="holds no recording"):
        find_recordings(tmp_path)
    with pytest.raises(WaveInputError, match="no input"):
        find_recordings([])


def test_bad_scheduler_and_workers_and_missing_distributed(folder, monkeypatch):
    with pytest.raises(WaveInputError, match="scheduler='bogus' is not supported"):
        measure_many(folder, VEL, scheduler="bogus")
    with pytest.raises(WaveInputError, match="workers must be a positive integer"):
        measure_many(folder, VEL, workers=0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(WaveInputError, match=r"pip install \"wavescope\[cluster\]\""):
        measure_many(folder, VEL, scheduler="tcp://127.0.0.1:8786")


def test_cli_over_a_folder_writes_table_json_and_per_recording_files(
    with_broken, serial, tmp_path_factory, capsys
):
    out = tmp_path_factory.mktemp("out")
    table, combined = out / "t.csv", out / "all.json"
    argv = ["velocity", str(with_broken), "--band", "8", "12", "--method", "phase-gradient"]
    argv += ["--summary-of", "all", "--scheduler", "threads"]
    argv += ["--table", str(table), "--json", str(combined), "--out-dir", str(out / "each")]
    assert main(argv) == 1  # one recording failed: nonzero exit, the others written
    captured = capsys.readouterr()
    assert "rec9-broken.npz failed" in captured.err and "1 of 4" in captured.err
    assert "rec0.npz" in captured.out and "FAILED" in captured.out
    rows = list(csv.DictReader(table.open()))
    assert [r["ok"] for r in rows] == ["True", "True", "True", "False"]
    for row, ref in zip(rows, serial):
        assert float(row["speed_median"]) == ref.summary.speed_median
    data = json.loads(combined.read_text())
    assert data["n_recordings"] == 4 and data["n_failed"] == 1
    each = sorted(p.name for p in (out / "each").iterdir())
    assert each == ["rec0.json", "rec1.json", "rec2.json"]
    s1 = json.loads((out / "each" / "rec1.json").read_text())
    assert s1["speed"] == serial[1].summary.to_json()["speed"]
    # running again refuses to replace the per-recording files without --overwrite
    assert main(argv[:9] + ["--out-dir", str(out / "each")]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_over_a_glob_and_several_files(folder, serial, tmp_path, capsys):
    table = tmp_path / "t.csv"
    argv = ["velocity", str(folder / "rec*.npz"), "--band", "8", "12", "--table", str(table)]
    argv += ["--method", "phase-gradient", "--summary-of", "all"]
    assert main(argv + ["--scheduler", "synchronous"]) == 0
    speeds = [float(r["speed_median"]) for r in csv.DictReader(table.open())]
    assert speeds == [r.summary.speed_median for r in serial]
    files = [str(folder / "rec2.npz"), str(folder / "rec0.npz")]
    out = tmp_path / "two.json"
    opts = ["--method", "phase-gradient", "--summary-of", "all"]
    assert main(["velocity", *files, "--band", "8", "12", "--json", str(out), *opts]) == 0
    got = [r["summary"]["speed"]["median"] for r in json.loads(out.read_text())["recordings"]]
    assert got == [serial[2].summary.speed_median, serial[0].summary.speed_median]


def test_cli_bad_inputs_exit_2_with_clear_errors(folder, capsys):
    cases = [
        ([str(folder / "nothing*.npz")], "matches no file"),
        ([str(folder / "rec0.npz"), str(folder / "missing.npz")], "no such file or folder"),
        ([str(folder), "--scheduler", "bogus"], "not supported"),
        ([str(folder), "--plot", "x.png"], "--plot is for one recording"),
        ([str(folder / "rec0.npz"), "--table", "t.csv"], "for many recordings"),
        ([str(folder / "rec0.npz"), "--scheduler", "processes"], "for many recordings"),
        ([str(folder / "rec0.npz"), "--picks", "ecog"], "a npz input records no channel types"),
    ]
    for args, message in cases:
        assert main(["velocity", *args]) == 2, args
        assert message in capsys.readouterr().err


def test_output_names_are_unique_and_never_take_another_recordings_name():
    # a/rec, b/rec and a/rec-1: the clash of the first two must not take rec-1's name
    assert output_names(["a/rec.npz", "b/rec.npz", "a/rec-1.npz"]) == [
        "rec.json",
        "rec-2.json",
        "rec-1.json",
    ]
    assert output_names(["x/A.fif.gz", "y/a.edf", "z/a"]) == ["A.json", "a-1.json", "a-2.json"]


def test_cli_out_dir_name_clash_writes_one_file_per_recording(folder, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    src = folder / "rec0.npz"
    for dst in (a / "rec.npz", b / "rec.npz", a / "rec-1.npz"):
        dst.write_bytes(src.read_bytes())
    out = tmp_path / "out"
    argv = ["velocity", str(a / "rec.npz"), str(b / "rec.npz"), str(a / "rec-1.npz")]
    assert main(argv + ["--band", "8", "12", "--out-dir", str(out)]) == 0
    assert "wrote 3 summaries" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["rec-1.json", "rec-2.json", "rec.json"]


def test_a_dead_worker_loses_only_its_recording(folder, tmp_path):
    # the worker measuring "rec1-kills.npz" dies outright (os._exit, as an out-of-memory
    # kill would): that recording is reported lost, the others are measured and equal
    # the serial run
    from batch_tasks import die_on_kills

    for p in sorted(folder.glob("rec*.npz")):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "rec1-kills.npz").write_bytes((folder / "rec1.npz").read_bytes())
    recs = measure_many(tmp_path, VEL, scheduler="processes", workers=2, task=die_on_kills)
    names = [r.input.rsplit("/", 1)[-1] for r in recs]
    assert names == ["rec0.npz", "rec1-kills.npz", "rec1.npz", "rec2.npz"]
    assert [r.ok for r in recs] == [True, False, True, True]
    assert "worker process died" in recs[1].error
    serial = [measure_one(tmp_path / n, VEL) for n in ("rec0.npz", "rec1.npz", "rec2.npz")]
    assert [recs[i] for i in (0, 2, 3)] == serial


def test_summary_rows_are_flat_and_json_ready(serial):
    rows = summary_rows(serial)
    assert all(np.isscalar(v) or v is None for row in rows for v in row.values())
    json.dumps(rows)
    json.dumps([r.to_json() for r in serial])
