"""Specification: a training run killed at any moment (kill -9) continues with one command,
``wavescope train ... --resume``, to the same metrics and weights as an uninterrupted run.

The kills are real SIGKILLs of a child process running ``wavescope train``: the child
patches one writer so that it stops halfway through its output and kills itself there
(no cleanup handler runs, as with ``kill -9`` from outside); one test kills a run from
outside at a moment it does not choose. The comparison is bit-exact: every metrics field
but the wall ``time``, every weight tensor, the scheduler and data-stream states and the
final evaluation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from wavescope.cli.main import main
from wavescope.models.checkpoint import load_checkpoint
from wavescope.models.training import read_metrics

ROOT = Path(__file__).resolve().parents[2]

# tiny transformer, 12 steps, metrics every 2, checkpoints every 4: kills can land before
# the first checkpoint (steps 1-3), between checkpoints, and while one is written
ARGS = [
    "train", "--model", "transformer-rope", "--length", "6", "--steps", "12",
    "--batch-size", "4", "--seed", "5", "--log-every", "2", "--eval-every", "4",
    "--ckpt-every", "4", "--set", "d_model=16", "--set", "n_layers=1", "--set", "n_heads=2",
    "--no-progress",
]  # fmt: skip

# The child: patch one writer to stop halfway and SIGKILL the process, then run the CLI.
CHILD = r"""
import json, os, signal, sys
import torch
from wavescope.models import training

point, nth = sys.argv[1], int(sys.argv[2])
argv = sys.argv[3:]
count = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "metrics":  # the nth metrics line is torn: half written, then killed
    real_write = training._MetricsLog.write
    def write(self, rec):
        count[0] += 1
        if count[0] == nth and self.fh is not None:
            line = json.dumps(rec) + "\n"
            self.fh.write(line[: len(line) // 2])
            self.fh.flush()
            die()
        real_write(self, rec)
    training._MetricsLog.write = write
elif point == "checkpoint":  # killed halfway through writing the nth checkpoint
    real_save = torch.save
    def save(obj, f, *a, **k):
        count[0] += 1
        if count[0] == nth and "model_state" in obj:
            f.write(b"PK\x03\x04 half a checkpoint")
            f.flush()
            die()
        return real_save(obj, f, *a, **k)
    torch.save = save
elif point == "json":  # killed halfway through the nth JSON file (run.json, final_eval.json)
    from wavescope.io.outputs import atomic_write
    def write_json(path, obj, indent=2):
        count[0] += 1
        if count[0] == nth:
            with atomic_write(path, "w") as fh:
                fh.write(json.dumps(obj)[:40])
                fh.flush()
                die()
        return real_json(path, obj, indent=indent)
    real_json = training.write_json
    training.write_json = write_json
elif point == "slow":  # no kill here: every metrics line is followed by nth ms of sleep
    import time
    real_write = training._MetricsLog.write
    def write(self, rec):
        real_write(self, rec)
        time.sleep(nth / 1000)
    training._MetricsLog.write = write
from wavescope.cli.main import main
sys.exit(main(argv))
"""


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _killed_run(tmp_path, out, point, nth):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    cmd = [sys.executable, str(script), point, str(nth), *ARGS, "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]


def _metrics(out):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a torn last line is reported by a warning
        return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(out, None)]


def _assert_same_run(a, b):
    assert _metrics(a) == _metrics(b)
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert ca["step"] == cb["step"] == 12
    assert ca["model_state"].keys() == cb["model_state"].keys()
    assert all(torch.equal(ca["model_state"][k], cb["model_state"][k]) for k in ca["model_state"])
    assert ca["scheduler_state"] == cb["scheduler_state"]
    assert ca["task_state"] == cb["task_state"]
    fa, fb = (json.loads((d / "final_eval.json").read_text()) for d in (a, b))
    assert fa["lengths"] == fb["lengths"] and fa["heldout"] == fb["heldout"]
    # nothing but the run's own files is left (no temporary file of the killed writer)
    assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in a.iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def _resume(out):
    assert main([*ARGS, "--out", str(out), "--resume"]) == 0


@pytest.mark.parametrize(
    ("point", "nth", "state"),
    [
        ("metrics", 1, "torn metrics line at step 2, before the first checkpoint"),
        ("checkpoint", 2, "killed writing the checkpoint of step 8"),
    ],
)
def test_kill9_then_resume_matches_an_uninterrupted_run(tmp_path, reference, point, nth, state):
    out = tmp_path / "run"
    _killed_run(tmp_path, out, point, nth)
    _resume(out)
    _assert_same_run(reference, out)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "nth", "state"),
    [
        ("json", 1, "killed writing run.json (only its temporary file exists)"),
        ("checkpoint", 1, "killed writing the first checkpoint"),
        ("metrics", 4, "torn metrics line after the first checkpoint"),
        ("json", 2, "killed writing final_eval.json after the last checkpoint"),
    ],
)
def test_kill9_at_more_moments_then_resume_matches(tmp_path, reference, point, nth, state):
    out = tmp_path / "run"
    _killed_run(tmp_path, out, point, nth)
    _resume(out)
    _assert_same_run(reference, out)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_kill9_from_outside_at_an_unchosen_moment_then_resume_matches(tmp_path, reference, seed):
    # a slower twin of the run (each metrics line is followed by 0.5 s of sleep, which
    # changes no number), killed from outside at a delay drawn after its first metrics
    # line: wherever that lands, --resume must finish it to the reference's numbers. The
    # run has >= 5 more lines (>= 2.5 s) to go when the first appears, and the delay is
    # under 1 s, so the kill lands while it runs; the test checks that it did (a run that
    # finished first would make the resume trivial)
    out = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    cmd = [sys.executable, str(script), "slow", "500", *ARGS, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_child_env(), stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        metrics = out / "metrics.jsonl"
        while time.time() < deadline and proc.poll() is None:
            if metrics.exists() and metrics.stat().st_size:
                break
            time.sleep(0.005)
        assert metrics.exists() and metrics.stat().st_size, "no metrics line before the end"
        time.sleep(float(np.random.default_rng(seed).uniform(0.0, 1.0)))
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "final_eval.json").exists()  # the kill interrupted the run
    _resume(out)
    _assert_same_run(reference, out)


def test_a_run_killed_before_its_first_checkpoint_is_refused_without_resume(tmp_path, capsys):
    # the folder holds run.json and metrics lines but no checkpoint: a plain rerun is
    # refused (nothing is overwritten) with a message that names --resume
    out = tmp_path / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    (out / "checkpoint.pt").unlink()
    (out / "final_eval.json").unlink()
    capsys.readouterr()
    assert main([*ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "killed before its first checkpoint" in err and "--resume" in err


def test_resume_of_a_started_run_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    assert main([*ARGS, "--out", str(out), "--resume"]) == 0  # an empty folder: starts
    (out / "checkpoint.pt").unlink()  # as if killed before its first checkpoint
    (out / "final_eval.json").unlink()
    assert main([*ARGS, "--out", str(out), "--resume", "--lr", "0.1"]) == 2
    assert "run.json's training setup does not match" in capsys.readouterr().err
    (out / "notes.txt").write_text("mine")
    assert main([*ARGS, "--out", str(out), "--resume"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
