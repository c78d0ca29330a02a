"""Specification of the default torch thread policy: one thread per process for small models
(two threads collapse when another program holds a core, benchmarks/results/threads.md),
the usable cores for large ones, and never a count that depends on the load, because a run's
numbers depend on its thread count."""

from __future__ import annotations

import json

import pytest
import torch

import wavescope.models.threads as threads
from wavescope.models.checkpoint import load_checkpoint
from wavescope.models.threads import SMALL_MODEL_PARAMETERS, default_threads, torch_threads
from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
@pytest.mark.parametrize("processes", [1, 2, 3])
def test_small_models_get_one_thread_and_large_ones_share_the_cores(monkeypatch, cores, processes):
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    for n in (None, 1, 70_000, SMALL_MODEL_PARAMETERS):
        assert default_threads(n, processes) == 1
    big = default_threads(SMALL_MODEL_PARAMETERS + 1, processes)
    assert big == max(cores // processes, 1)


def test_usable_cores_is_the_affinity_mask():
    import os

    assert threads.usable_cores() == len(os.sched_getaffinity(0))


def _run(out, **kw):
    return train(
        "shift-ssm",
        TrainHParams(steps=6, batch_size=4, seed=1),
        out_dir=out,
        task=TaskSpec(length=5),
        model_config=dict(d_model=16, n_layers=1, n_sites=4, d_state=4),
        evaluation=EvalSpec(lengths=[5], examples=2, modes=("teacher",)),
        log=LogSpec(every=1, ckpt_every=3, progress=False),
        **kw,
    )


def test_training_uses_the_policy_records_it_and_restores_the_callers_count(tmp_path):
    with torch_threads(2):
        _run(tmp_path / "r")
        assert torch.get_num_threads() == 2
    assert json.loads((tmp_path / "r" / "run.json").read_text())["threads"] == 1
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["threads"] == 1


def test_a_resumed_run_keeps_the_thread_count_it_was_started_with(tmp_path):
    # the numbers depend on the thread count; a run started with 2 threads and resumed
    # without --threads continues with 2 and matches the uninterrupted 2-thread run
    _run(tmp_path / "one", threads=2)
    _run(tmp_path / "two", threads=2, stop_after=3)
    _run(tmp_path / "two", resume=True)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("one", "two"))
    assert b["threads"] == 2
    assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])


@pytest.mark.slow
def test_the_numbers_of_a_run_depend_on_its_thread_count(tmp_path):
    # the premise of a load-independent default: at the CPU scale (copy length 20,
    # batch 16) two steps with 1 and with 2 threads give different weights
    def run(out, n):
        train(
            "shift-ssm",
            TrainHParams(steps=2, batch_size=16, seed=1),
            out_dir=out,
            evaluation=EvalSpec(lengths=[5], examples=2, modes=("teacher",)),
            log=LogSpec(every=1, progress=False),
            threads=n,
        )
        return load_checkpoint(out / "checkpoint.pt")["model_state"]

    a, b = run(tmp_path / "a", 1), run(tmp_path / "b", 2)
    assert not all(torch.equal(a[k], b[k]) for k in a)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
