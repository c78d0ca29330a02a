"""Specification: runs trained side by side in separate processes give exactly the numbers
of the same runs trained alone, and come back in the order they were given.

Known truth: each run trained in this process. A CPU run is deterministic for a given seed
and thread count (one thread here), so a run in a spawned process must match it bit for
bit: every logged loss and accuracy, every weight. Tolerance: exact equality (any
difference would mean the process changed the computation, e.g. its thread count).
"""

from __future__ import annotations

import pytest
import torch

from wavescope.core.errors import WaveInputError
from wavescope.io.metrics import read_metrics
from wavescope.models.checkpoint import load_checkpoint
from wavescope.models.train_pool import train_in_parallel
from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

TINY = {
    "vwave-mamba": dict(d_model=16, n_layers=1, d_state=4, n_sites=8),
    "mamba": dict(d_model=16, n_layers=1, d_state=4),
}


def _run(name, out, seed):
    return dict(
        model=name,
        hparams=TrainHParams(steps=5, batch_size=3, seed=seed),
        out_dir=out,
        task=TaskSpec(length=6),
        model_config=TINY[name],
        evaluation=EvalSpec(lengths=[6], examples=4, modes=("teacher",)),
        log=LogSpec(every=1, progress=False),
        threads=1,
    )


def _numbers(out):
    lines = [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(out)]
    return lines, load_checkpoint(out / "checkpoint.pt")["model_state"]


def test_runs_in_two_processes_equal_the_same_runs_alone(tmp_path):
    specs = [("vwave-mamba", 0), ("mamba", 1), ("vwave-mamba", 2)]
    pooled = [_run(n, tmp_path / f"pool_{i}", s) for i, (n, s) in enumerate(specs)]
    seen = []
    out = train_in_parallel(pooled, processes=2, on_done=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2]
    for i, (name, seed) in enumerate(specs):
        alone = tmp_path / f"alone_{i}"
        kw = _run(name, alone, seed)
        train(kw.pop("model"), kw.pop("hparams"), **kw)
        assert out[i]["out_dir"] == str(tmp_path / f"pool_{i}") and out[i]["finished"]
        lines_a, w_a = _numbers(alone)
        lines_p, w_p = _numbers(tmp_path / f"pool_{i}")
        assert lines_p == lines_a
        assert w_p.keys() == w_a.keys()
        for k in w_a:
            assert torch.equal(w_p[k], w_a[k]), k


def test_one_process_runs_in_order_here_and_bad_requests_are_refused(tmp_path):
    runs = [_run("mamba", tmp_path / "a", 0), _run("mamba", tmp_path / "b", 1)]
    out = train_in_parallel(runs, processes=1)
    assert [o["out_dir"] for o in out] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert train_in_parallel([]) == []
    with pytest.raises(WaveInputError, match="processes must be an integer >= 1"):
        train_in_parallel(runs, processes=0)
    with pytest.raises(WaveInputError, match="needs 'model' and 'out_dir'"):
        train_in_parallel([{"model": "mamba"}])
