"""Model sizes, batches and lengths are checked arithmetically before anything is built or
drawn (issue 20, item 1): a million layers, a batch of 1e8 rows, a copy length of 1e8 or a
probe of 1e9 steps end in exit 2 naming the size and the limit, and write nothing."""

from __future__ import annotations

import itertools
import re

import pytest
import torch
from untouched import snapshot

import wavescope.core.validate as validate
from wavescope.cli.main import main
from wavescope.models import registry as reg
from wavescope.models.lm import LanguageModel
from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train


def _meta_count(name, cfg) -> int:
    with torch.device("meta"):
        return LanguageModel(name, 30, cfg, reg._make_mixer(name)).num_parameters()


@pytest.mark.parametrize("name", reg.MODEL_NAMES)
def test_the_arithmetic_parameter_count_equals_the_built_models(name):
    """Exact (integers): every size, MLP, untied head and velocity mode of each model."""
    velocities = ["fixed", "channel", "input"] if "vwave" in name else [None]
    for d, layers, extra, v in itertools.product(
        [8, 24, 40], [1, 3], [{}, {"mlp_ratio": 0.5, "tie_embeddings": False}], velocities
    ):
        kw = dict(d_model=d, n_layers=layers, **extra, **({"velocity": v} if v else {}))
        cfg = reg.default_config(name, "cpu", **kw)
        assert reg.count_parameters(name, 30, cfg) == _meta_count(name, cfg), kw


def _train(tmp_path, *args) -> tuple[int, str]:
    out = tmp_path / "run"
    code = main(["train", "--model", "mamba", "--steps", "2", "--no-progress",
                 "--out", str(out), *args])  # fmt: skip
    assert not out.exists(), "a refused run created its folder"
    return code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "n_layers=1000000"], r"n_layers=1000000,.* has 32,704,001,984 parameters"),
        (["--batch-size", "100000000"], r"one training batch \(100000000 x 85 tokens"),
        (["--length", "100000000"], r"one training batch \(16 x 400000005 tokens"),
    ],
)
def test_train_refuses_sizes_that_do_not_fit_before_building_anything(
    tmp_path, capsys, monkeypatch, args, message
):
    # the same bounds on any machine: 16 GiB of memory, 8 GiB available
    monkeypatch.setattr(reg, "_machine_memory_bytes", lambda: 16 * 2**30)
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 8 * 2**30)
    before = snapshot(tmp_path)
    assert _train(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "more than" in err and ("GiB" in err or "TiB" in err)
    assert snapshot(tmp_path) == before


def test_a_config_of_a_million_layers_is_sized_without_building_it():
    cfg = reg.default_config("mamba", n_layers=1_000_000)
    # 1e6 blocks of 16,354 parameters each (d_model 64, d_state 16, expand 2) + embedding
    assert reg.count_parameters("mamba", 30, cfg) == 32_704_001_984


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sizes") / "r"
    train(
        "mamba", TrainHParams(steps=1, batch_size=2), out_dir=out, task=TaskSpec(length=5),
        model_config=dict(d_model=16, n_layers=1, d_state=4),
        evaluation=EvalSpec(lengths=[5], examples=2, modes=("teacher",)),
        log=LogSpec(every=1, progress=False),
    )  # fmt: skip
    return out


def test_probe_refuses_a_length_whose_states_do_not_fit(tiny_run, tmp_path, capsys):
    before = snapshot(tmp_path)
    code = main(["probe", str(tiny_run / "checkpoint.pt"), "--layer", "0", "--impulse",
                 "--length", "1000000000", "--out", str(tmp_path / "s.npz")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "the probe (2 x 1000000000 tokens through 1 layer(s) of mamba) needs" in err
    assert "more than the" in err
    assert snapshot(tmp_path) == before


def test_the_probe_api_refuses_the_length_before_making_the_tokens(tiny_run):
    from wavescope.core.errors import WaveInputError
    from wavescope.models.probe import capture_states, impulse_response, load_model

    model, _ = load_model(tiny_run / "checkpoint.pt")
    with pytest.raises(WaveInputError, match=r"the probe \(2 x 1000000000 tokens"):
        impulse_response(model, 0, length=10**9)  # the tokens alone would be 8 GB
    with pytest.raises(WaveInputError, match="length must be a whole number of steps"):
        impulse_response(model, 0, length=2.5)
    assert capture_states(model, torch.ones((1, 12), dtype=torch.long), 0).n_times == 12
