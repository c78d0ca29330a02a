"""Specification: training in 2 processes (DistributedDataParallel, gloo on CPU) follows the
single-process run with the same global batch, and its checkpoint resumes with any number
of processes.

Known truth: the single-process run. Both runs draw the same batches (every rank draws
the global batch and keeps its rows), so the only differences are the order of float32
sums (a rank's partial gradient summed across ranks instead of inside one matmul).

Tolerance: relative 1e-5 on every logged loss and absolute 1e-5 on every weight. Measured
differences are 1e-8 to 2e-7 (losses) and 3e-8 to 8e-7 (weights) after 8 steps for every
model; one AdamW step moves a weight by about lr = 3e-3, so a gradient that is wrong in
scale or weighting (a rank's mean instead of its token share, a dropped shard) moves the
weights by far more than 1e-5 within a step or two, while float round-off stays below it.
"""

from __future__ import annotations

import pytest
import torch

from wavescope.core.errors import WaveInputError
from wavescope.models.checkpoint import load_checkpoint
from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

TOL = 1e-5
TINY = dict(d_model=16, n_layers=1, d_state=4, n_sites=8)


def _run(out, nproc=1, **kw):
    # batch 6 over 2 ranks: 3 rows each, with unequal numbers of copied tokens
    return train(
        "vwave-mamba",
        TrainHParams(steps=8, batch_size=6, seed=2),
        out_dir=out,
        task=TaskSpec(length=6),
        model_config=TINY,
        evaluation=EvalSpec(lengths=[6], examples=4, modes=("teacher",)),
        log=LogSpec(every=1, ckpt_every=4, progress=False),
        nproc=nproc,
        **kw,
    )


def _train_lines(out):
    from wavescope.io.metrics import read_metrics

    return read_metrics(out)


def _weights(out):
    return load_checkpoint(out / "checkpoint.pt")["model_state"]


def _assert_close(a_lines, b_lines, a_w, b_w):
    assert [r["step"] for r in a_lines] == [r["step"] for r in b_lines]
    for ra, rb in zip(a_lines, b_lines, strict=True):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=TOL)
        assert rb["lr"] == ra["lr"]
    assert a_w.keys() == b_w.keys()
    for k in a_w:
        torch.testing.assert_close(b_w[k], a_w[k], rtol=0, atol=TOL, msg=k)


def test_two_processes_match_one_process_and_resume_with_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _run(one, stop_after=4)
    w_one_4 = _weights(one)
    _run(one, resume=True)
    s = _run(two, nproc=2, stop_after=4)
    assert s["step"] == 4 and not s["finished"]
    _assert_close(_train_lines(one)[:4], _train_lines(two), w_one_4, _weights(two))
    # the checkpoint of the 2-process run is the single-process format: continue in 1
    s = _run(two, resume=True)
    assert s["finished"] and s["final_eval"] is not None
    _assert_close(_train_lines(one), _train_lines(two), _weights(one), _weights(two))
    # one process wrote everything: no file of rank 1, one line per step
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


@pytest.mark.slow
def test_a_single_process_checkpoint_resumes_in_two_processes(tmp_path):
    one, mixed = tmp_path / "one", tmp_path / "mixed"
    _run(one)
    _run(mixed, stop_after=4)
    _run(mixed, nproc=2, resume=True)
    _assert_close(_train_lines(one), _train_lines(mixed), _weights(one), _weights(mixed))


@pytest.mark.slow
def test_cli_nproc_trains_and_resumes(tmp_path, capsys):
    from wavescope.cli.main import main

    out = tmp_path / "run"
    args = ["train", "--model", "shift-ssm", "--length", "5", "--steps", "4", "--batch-size",
            "4", "--log-every", "1", "--no-progress", "--set", "d_model=16", "--set",
            "n_layers=1", "--set", "n_sites=4", "--nproc", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert load_checkpoint(out / "checkpoint.pt")["processes"] == 2
    (out / "final_eval.json").unlink()  # resume writes it again, in 2 processes
    assert main([*args, "--resume"]) == 0


def test_bad_process_counts_are_refused_before_any_work(tmp_path):
    with pytest.raises(WaveInputError, match="nproc must be an integer >= 1"):
        _run(tmp_path / "a", nproc=0)
    with pytest.raises(WaveInputError, match="cannot share a batch of 6 rows"):
        _run(tmp_path / "a", nproc=7)
    if not torch.cuda.is_available():
        with pytest.raises(WaveInputError, match="CUDA is not available"):
            _run(tmp_path / "a", nproc=2, device="cuda")
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_a_torchrun_launch_matches_one_process(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from wavescope.cli.main import main
    from wavescope.io.metrics import read_metrics

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"{torchrun} is not installed")
    args = ["train", "--model", "mamba", "--length", "5", "--steps", "6", "--batch-size", "6",
            "--log-every", "1", "--no-progress", "--set", "d_model=16", "--set", "n_layers=1",
            "--set", "d_state=4"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "wavescope.cli.main"]
    res = subprocess.run([*cmd, *args, "--out", str(tmp_path / "two")], env=env, timeout=600,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pt")["processes"] == 2
    a, b = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    _assert_close(a, b, _weights(tmp_path / "one"), _weights(tmp_path / "two"))
