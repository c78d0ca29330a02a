"""Specification: a damaged or hostile checkpoint gives a clear error, never a traceback or
a huge allocation; probes refuse layers that do not exist."""

from __future__ import annotations

import pytest
import torch

from wavescope.cli.main import main
from wavescope.core.errors import WaveInputError
from wavescope.models.checkpoint import load_checkpoint, load_model
from wavescope.models.registry import check_model_size, count_parameters, default_config
from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    train(
        "mamba",
        TrainHParams(steps=2, batch_size=2),
        out_dir=out,
        task=TaskSpec(length=5),
        model_config=dict(d_model=16, n_layers=2, d_state=4),
        evaluation=EvalSpec(lengths=[5], examples=2, modes=("teacher",)),
        log=LogSpec(every=1, progress=False),
    )
    return out


def _damaged(run, tmp_path, **config):
    ck = load_checkpoint(run / "checkpoint.pt")
    ck["config"].update(config)
    path = tmp_path / "damaged.pt"
    torch.save(ck, path)
    return path


def test_parameter_count_on_the_meta_device_is_exact():
    for name, d in [("mamba", 64), ("vwave-mamba", 32), ("transformer-alibi", 48)]:
        cfg = default_config(name, d_model=d)
        from wavescope.models.registry import build_model

        assert count_parameters(name, 30, cfg) == build_model(name, 30, cfg).num_parameters()


def test_a_checkpoint_asking_for_hundreds_of_gigabytes_is_refused(run, tmp_path, capsys):
    # d_model = 200000: 1.6e11 parameters per in_proj; refused from the count, before any
    # tensor exists
    path = _damaged(run, tmp_path, d_model=200_000)
    with pytest.raises(WaveInputError, match=r"d_model=200000.*GiB in float32.*damaged"):
        load_model(path)
    assert main(["probe", str(path), "--layer", "0", "--impulse", "--out",
                 str(tmp_path / "s.npz")]) == 2  # fmt: skip
    assert "parameters" in capsys.readouterr().err


def test_the_size_bound_follows_the_machine_memory(monkeypatch):
    import wavescope.models.registry as reg

    cfg = default_config("mamba")
    n = count_parameters("mamba", 30, cfg)
    monkeypatch.setattr(reg, "_machine_memory_bytes", lambda: 8 * n * 4 * 2)
    assert check_model_size("mamba", 30, cfg) == n
    monkeypatch.setattr(reg, "_machine_memory_bytes", lambda: n * 4)  # weights = all memory
    with pytest.raises(WaveInputError, match="more than 50%"):
        check_model_size("mamba", 30, cfg)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"d_model": -16}, "d_model must be an integer >= 1, got -16"),
        ({"n_layers": "2"}, "n_layers must be an integer >= 1, got '2'"),
        ({"d_state": 0}, "d_state must be an integer >= 1"),
        ({"expand": 1.5}, "expand must be an integer"),
        ({"dt_min": "small"}, "dt_min must be a finite number"),
        ({"d_model": None}, "d_model must be set"),
        ({"colour": "red"}, "no field 'colour'"),
    ],
)
def test_bad_sizes_in_a_checkpoint_config_give_a_clear_error(
    run, tmp_path, capsys, config, message
):
    path = _damaged(run, tmp_path, **config)
    with pytest.raises(WaveInputError, match=message):
        load_model(path)
    args = ["probe", str(path), "--layer", "0", "--impulse", "--out", str(tmp_path / "s.npz")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message.split(",")[0] in err


def test_a_checkpoint_with_a_broken_vocab_or_config_type_is_refused(run, tmp_path):
    ck = load_checkpoint(run / "checkpoint.pt")
    for key, value, message in [
        ("vocab_size", "30", "vocab_size must be an integer"),
        ("vocab_size", -3, "vocab_size must be a positive integer"),
        ("config", [1, 2], "config for mamba must be a dict"),
        ("model_name", "gpt", "unknown model 'gpt'"),
    ]:
        bad = dict(ck, **{key: value})
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(WaveInputError, match=message):
            load_model(tmp_path / "bad.pt")


@pytest.mark.parametrize("layer", ["-1", "-2", "2", "7"])
def test_probe_refuses_layers_that_do_not_exist(run, tmp_path, capsys, layer):
    # the model has layers 0 and 1; -1 is not read as "the last one"
    out = tmp_path / "s.npz"
    args = ["probe", str(run / "checkpoint.pt"), "--layer", layer, "--impulse", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"layer={layer} is out of range" in err and "2 layers (0 to 1)" in err
    assert not out.exists()
    curve = ["probe", str(run / "checkpoint.pt"), "--layer", layer, "--memory-curve"]
    assert main([*curve, "--max-lag", "2", "--n-sequences", "10", "--length", "8"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_probe_layers_in_python_must_be_integers(run):
    from wavescope.models.probe import capture_states

    model, _ = load_model(run / "checkpoint.pt")
    tokens = torch.zeros(1, 8, dtype=torch.long)
    for layer in (1.0, True, "0", -1):
        with pytest.raises(WaveInputError, match="layer"):
            capture_states(model, tokens, layer)


def test_identical_runs_give_one_weights_digest_though_their_files_differ(tmp_path):
    """The subject of a trained network is the same for two runs with the same seed (the
    file bytes are not: torch writes a random serialization id, and the run its elapsed
    seconds); another seed, or one weight moved by one ulp, gives another digest."""
    from wavescope.models.checkpoint import weights_digest
    from wavescope.models.probe import checkpoint_identity

    def once(name, s):
        out = tmp_path / name
        train(
            "shift-ssm",
            TrainHParams(steps=3, batch_size=4, seed=s),
            out_dir=out,
            task=TaskSpec(length=6),
            model_config=dict(d_model=16, n_layers=1, n_sites=4),
            evaluation=EvalSpec(lengths=[6], examples=2, modes=("teacher",)),
            log=LogSpec(every=3, progress=False),
        )
        path = out / "checkpoint.pt"
        return path, load_checkpoint(path)

    (p1, c1), (p2, c2), (_, c3) = once("a", 3), once("b", 3), once("c", 4)
    assert p1.read_bytes() != p2.read_bytes()
    id1, id2 = checkpoint_identity(p1, c1), checkpoint_identity(p2, c2)
    assert id1["subject"] == id2["subject"] and id1["weights_sha256"] == id2["weights_sha256"]
    assert weights_digest(c3) != weights_digest(c1)
    # the state dict's order does not matter; a one-ulp change of one weight does
    c1["model_state"] = dict(reversed(list(c1["model_state"].items())))
    assert weights_digest(c1) == id1["weights_sha256"]
    name, t = next((k, v) for k, v in c1["model_state"].items() if v.is_floating_point())
    c1["model_state"][name] = torch.nextafter(t, t + 1)
    assert weights_digest(c1) != id1["weights_sha256"]


def test_weights_digest_refuses_a_state_that_is_not_tensors():
    from wavescope.models.checkpoint import weights_digest

    with pytest.raises(WaveInputError, match="model_state"):
        weights_digest({"model_name": "mamba", "model_state": {"w": [1.0]}})
