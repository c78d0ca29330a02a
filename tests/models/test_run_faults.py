"""Training, resuming and probing on damaged or diverging runs (issue 20, items 2, 5, 8):
a diverging run stops with a clear error and keeps its last good checkpoint, metrics stay
JSON, damaged checkpoints (step counts, rng state, NaN weights) are refused, and every
model follows the same configuration rules."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from untouched import snapshot

from wavescope.cli.main import main
from wavescope.core.errors import WaveInputError
from wavescope.models.checkpoint import load_checkpoint
from wavescope.models.registry import default_config

TINY = ["--model", "mamba", "--steps", "4", "--batch-size", "2", "--length", "5",
        "--set", "d_model=16", "--set", "n_layers=1", "--set", "d_state=4",
        "--log-every", "1", "--ckpt-every", "2", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped after its checkpoint at step 2 (of 4): what --resume continues."""
    from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

    out = tmp_path_factory.mktemp("faults") / "run"
    train(
        "mamba", TrainHParams(steps=4, batch_size=2), out_dir=out, task=TaskSpec(length=5),
        model_config=dict(d_model=16, n_layers=1, d_state=4),
        log=LogSpec(every=1, ckpt_every=2, progress=False), stop_after=2,
        evaluation=EvalSpec(),
    )  # fmt: skip
    return out


def _copy(run, tmp_path, **changes):
    """A copy of the run whose checkpoint has ``changes`` applied (a callable edits it)."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    ck = load_checkpoint(out / "checkpoint.pt")
    for key, value in changes.items():
        if callable(value):
            value(ck)
        else:
            ck[key] = value
    torch.save(ck, out / "checkpoint.pt")
    return out


def _resume_refused(out, tmp_path, capsys, *message):
    before = snapshot(tmp_path)
    assert main(["train", *TINY, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    for part in message:
        assert part in err, err
    assert "internal error" not in err
    assert snapshot(tmp_path) == before
    return err


def test_the_tiny_run_resumes_when_intact(stopped_run, tmp_path, capsys):
    out = _copy(stopped_run, tmp_path)
    assert main(["train", *TINY, "--out", str(out), "--resume"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4


@pytest.mark.parametrize("step", [-5, 12.5, 10**9, True, "3"])
def test_resume_refuses_impossible_step_counts(stopped_run, tmp_path, capsys, step):
    out = _copy(stopped_run, tmp_path, step=step)
    _resume_refused(out, tmp_path, capsys, "step must be a whole number 0 to 4", repr(step))


@pytest.mark.parametrize(
    "damage",
    [
        lambda ck: ck["rng_state"].pop("torch"),
        lambda ck: ck["rng_state"].update(torch=torch.zeros(3, dtype=torch.uint8)),
        lambda ck: ck["rng_state"]["numpy"].update(keys="not a state"),
        lambda ck: ck.update(rng_state=[1, 2, 3]),
    ],
)
def test_resume_refuses_a_malformed_rng_state(stopped_run, tmp_path, capsys, damage):
    out = _copy(stopped_run, tmp_path, _=damage)
    _resume_refused(out, tmp_path, capsys, "its rng_state is damaged")


def _nan_weight(ck):
    name = next(k for k, v in ck["model_state"].items() if v.is_floating_point())
    ck["model_state"][name] = ck["model_state"][name].clone().fill_(float("nan"))


def test_resume_refuses_nan_weights(stopped_run, tmp_path, capsys):
    out = _copy(stopped_run, tmp_path, _=_nan_weight)
    _resume_refused(out, tmp_path, capsys, "weights hold NaN or infinite values")


def test_probe_refuses_a_checkpoint_with_nan_weights(stopped_run, tmp_path, capsys):
    out = _copy(stopped_run, tmp_path, _=_nan_weight)
    before = snapshot(tmp_path)
    argv = ["probe", str(out / "checkpoint.pt"), "--layer", "0", "--impulse", "--out",
            str(tmp_path / "states.npz")]  # fmt: skip
    assert main(argv) == 2
    assert "weights hold NaN or infinite values" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def _strict_json(line: str):
    def refuse(token):
        raise ValueError(f"bare {token} token")

    return json.loads(line, parse_constant=refuse)


def test_a_diverging_run_stops_keeps_its_last_good_checkpoint_and_valid_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", *TINY, "--lr", "1e30", "--ckpt-every", "1", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training diverged at step 2: the loss is nan" in err
    assert "the last good checkpoint (step 1) is kept" in err and "Lower --lr" in err
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 1
    assert all(torch.isfinite(t).all() for t in ck["model_state"].values())
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [_strict_json(x)["step"] for x in lines] == [1]  # every line valid JSON
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "run.json"]


def test_train_refuses_a_seed_numpy_cannot_take(tmp_path, capsys):
    assert main(["train", *TINY, "--seed", "99999999999999999999999",
                 "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert "seed must be an integer >= 0 and <= 4294967295" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["mamba", "vwave-mamba", "shift-ssm", "vwave"])
def test_every_model_refuses_dt_min_above_dt_max(model):
    with pytest.raises(WaveInputError, match="dt_max=0.1 is below dt_min=0.5"):
        default_config(model, dt_min=0.5, dt_max=0.1)


def test_rope_needs_an_even_head_size_in_the_config():
    with pytest.raises(WaveInputError, match="head size d_model / n_heads = 9 must be even"):
        default_config("transformer-rope", d_model=36, n_heads=4)
    assert default_config("transformer-alibi", d_model=36, n_heads=4).d_model == 36


def test_non_finite_numbers_are_written_as_json_null():
    from wavescope.models.training import finite_json

    rec = {"loss": float("nan"), "acc": [1.0, float("inf")], "n": 3, "eval": {"x": -float("inf")}}
    text = json.dumps(finite_json(rec), allow_nan=False)
    assert _strict_json(text) == {"loss": None, "acc": [1.0, None], "n": 3, "eval": {"x": None}}


@pytest.mark.parametrize("step", [-5, 12.5, 10**9])
def test_probe_refuses_impossible_step_counts(stopped_run, tmp_path, capsys, step):
    out = _copy(stopped_run, tmp_path, step=step)
    before = snapshot(tmp_path)
    argv = ["probe", str(out / "checkpoint.pt"), "--layer", "0", "--impulse", "--out",
            str(tmp_path / "states.npz")]  # fmt: skip
    assert main(argv) == 2
    assert f"step must be a whole number 0 to 4 (the run's steps), got {step!r}" in (
        capsys.readouterr().err
    )
    assert snapshot(tmp_path) == before
