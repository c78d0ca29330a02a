"""Output safety: exclusive temp files, stale temps removed, inputs never replaced."""

import os

import pytest

from wavescope.core.errors import WaveFileExistsError, WaveInputError
from wavescope.io.metrics import read_metrics, truncate_metrics
from wavescope.io.outputs import atomic_write, check_output_path, write_json, write_text_atomic


def test_atomic_write_never_follows_a_planted_symlink(tmp_path):
    victim = tmp_path / "outside.txt"
    victim.write_text("keep me")
    out = tmp_path / "out" / "x.json"
    out.parent.mkdir()
    # plant symlinks at every temp name a naive writer would use
    for name in ("x.json.tmp", ".x.json.tmp"):
        (out.parent / name).symlink_to(victim)
    write_json(out, {"a": 1})
    assert victim.read_text() == "keep me"
    assert out.read_text().strip() == '{\n  "a": 1\n}'
    assert (out.parent / "x.json.tmp").is_symlink()  # an existing path is never replaced


def test_failed_write_leaves_no_temp_and_keeps_the_old_file(tmp_path):
    out = tmp_path / "x.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(out, "w") as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_stale_temps_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    out = tmp_path / "ckpt.pt"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".ckpt.pt.{dead}-0123abcd.tmp"
    stale.write_bytes(b"partial")
    other = tmp_path / f".other.pt.{dead}-0123abcd.tmp"
    other.write_bytes(b"not ours")
    write_text_atomic(out, "new")
    assert not stale.exists() and other.exists()


def test_check_output_path_refuses_existing_inputs_folders_and_bad_suffixes(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"x")
    with pytest.raises(WaveFileExistsError):
        check_output_path(f, False)
    with pytest.raises(FileExistsError):  # also the standard exception
        check_output_path(f, False)
    # the suffix the writer adds is checked, not the name as given
    with pytest.raises(WaveFileExistsError):
        check_output_path(tmp_path / "a", False, suffix=".png", allowed_suffixes=(".png",))
    assert check_output_path(tmp_path / "b", False, suffix=".png").name == "b.png"
    with pytest.raises(WaveInputError, match="folder"):
        check_output_path(tmp_path, True)
    with pytest.raises(WaveInputError, match="is a file"):
        check_output_path(f / "below.json", True)
    with pytest.raises(WaveInputError, match="input"):
        check_output_path(f, True, inputs=[f])
    with pytest.raises(WaveInputError, match="unsupported suffix"):
        check_output_path(tmp_path / "c.gif", True, allowed_suffixes=(".png", ".svg"))


def test_metrics_reader_skips_a_torn_last_line_and_truncation_removes_it(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "split": "train", "loss": 2.0}\n{"step": 2, "split": "tr')
    with pytest.warns(UserWarning, match="torn"):
        recs = read_metrics(tmp_path)
    assert [r["step"] for r in recs] == [1]
    truncate_metrics(p, 1)
    assert p.read_text() == '{"step": 1, "split": "train", "loss": 2.0}\n'
    p.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(WaveInputError, match="line 2"):
        read_metrics(p)
    assert not os.path.exists(tmp_path / "metrics.jsonl.tmp")
