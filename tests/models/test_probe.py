"""Probes: hidden states as WaveFields, checkpoints, the ``wavescope probe`` CLI."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch
from tolerances import assert_float32_close

from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.io.npz import read_npz
from wavescope.models.probe import (
    capture_all_channels,
    capture_states,
    capture_states_batch,
    hidden_states,
    impulse_response,
    impulse_tokens,
    load_model,
    text_tokens,
)
from wavescope.models.registry import build_model, default_config

V = 30


def small(name, **kw):
    torch.manual_seed(0)
    extra = {"n_sites": 8} if name in ("shift-ssm", "vwave", "vwave-mamba") else {}
    extra.update(kw)
    return build_model(name, V, default_config(name, d_model=16, n_layers=2, **extra))


@pytest.fixture
def checkpoint(tmp_path):
    model = small("vwave")
    path = tmp_path / "model.pt"
    torch.save(
        {
            "model_name": model.name,
            "config": asdict(model.config),
            "vocab_size": V,
            "model_state": model.state_dict(),
        },
        path,
    )
    return path, model


@pytest.mark.parametrize(
    "name, part, n_channels, n_sites",
    [
        ("mamba", None, 32, 16),  # ED = 2 * 16 channels, d_state 16
        ("mamba", "context", 32, 4),  # the conv's shift register (width 4)
        ("vwave-mamba", None, 32, 8),  # v-Wave ring of 8 sites per inner channel
        ("vwave-mamba", "ssm", 32, 16),
        ("shift-ssm", None, 16, 8),
        ("shift-ssm", "diag", 16, 16),
        ("vwave", None, 16, 8),
    ],
)
def test_capture_states_gives_sites_by_steps_field(name, part, n_channels, n_sites):
    model = small(name)
    tokens = torch.randint(0, V, (1, 12))
    states = hidden_states(model, tokens, 1, part)
    assert states.shape == (1, 12, n_channels, n_sites)
    field = capture_states(model, tokens, 1, channel=2, part=part)
    assert (field.n_sites, field.n_times) == (n_sites, 12)
    assert field.speed_unit == "sites/step" and field.fs == 1.0
    np.testing.assert_allclose(field.positions[:, 0], np.arange(n_sites))
    assert field.meta["model"] == name and field.meta["layer"] == 1
    assert field.meta["channel"] == 2
    assert_float32_close(field.data, states[0, :, 2].T.numpy())
    # mean over channels and the all-channels variant agree with the raw states
    mean = capture_states(model, tokens, 1, part=part)
    assert_float32_close(mean.data, states[0].mean(1).T.numpy())
    fields = capture_all_channels(model, tokens, 1, part=part)
    assert len(fields) == n_channels
    assert_float32_close(fields[2].data, field.data)  # one pass for all channels


def test_shift_ssm_probe_holds_past_inputs_of_k():
    # known truth: the shift register's site i at step t equals site 0 at step t - i
    model = small("shift-ssm")
    f = capture_states(model, torch.randint(0, V, (1, 20)), 0, channel=5)
    for i in range(1, f.n_sites):
        np.testing.assert_array_equal(f.data[i, i:], f.data[0, : 20 - i])


def test_vwave_probe_reports_channel_velocity():
    model = small("vwave")
    model.layers[0].mixer.shift.set_velocity(torch.linspace(0.5, 2.0, 16))
    f = capture_states(model, torch.randint(0, V, (1, 10)), 0, channel=15)
    assert f.meta["velocity"] == pytest.approx(2.0, rel=1e-6)


def test_probe_batch_variant_returns_one_field_per_sequence():
    model = small("vwave-mamba")
    tokens = torch.randint(0, V, (3, 9))
    fields = capture_states_batch(model, tokens, 0, channel=1)
    assert len(fields) == 3
    # batched and single-sequence calls sum in another order
    assert_float32_close(fields[2].data, capture_states(model, tokens[2], 0, channel=1).data)


def test_probe_bad_input_is_refused():
    model = small("mamba")
    tokens = torch.randint(0, V, (1, 6))
    with pytest.raises(WaveInputError, match="out of range"):
        capture_states(model, tokens, 2)
    with pytest.raises(WaveInputError, match="channel"):
        capture_states(model, tokens, 0, channel=99)
    with pytest.raises(WaveInputError, match="part"):
        capture_states(model, tokens, 0, part="shift")
    with pytest.raises(WaveInputError, match="no SSM hidden state"):
        capture_states(small("transformer-rope"), tokens, 0)
    with pytest.raises(WaveInputError, match="position"):
        impulse_tokens(5, position=5)
    with pytest.raises(WaveInputError, match="a-z"):
        text_tokens("abC")


def test_impulse_response_of_shift_ssm_layer0_is_a_single_moving_site():
    # known truth: in layer 0, k_t depends on token t only, so the response to one token
    # among pads is nonzero at site i only at step position + i
    model = small("shift-ssm")
    f = impulse_response(model, 0, length=12, position=3, token=9, channel=2)
    nz = np.abs(f.data) > 1e-6
    assert f.meta["input"] == "impulse-minus-background"
    expected = np.zeros_like(nz)
    for i in range(f.n_sites):
        expected[i, 3 + i] = True
    assert np.array_equal(nz, expected)


def test_impulse_and_text_tokens():
    t = impulse_tokens(6, position=2, token=7, background=1)
    assert t.tolist() == [[1, 1, 7, 1, 1, 1]]
    assert text_tokens("<ab|").tolist() == [[1, 4, 5, 2]]  # BOS a b SEP


def test_load_model_roundtrip(checkpoint):
    path, model = checkpoint
    loaded, ckpt = load_model(path)
    tokens = torch.randint(0, V, (1, 7))
    with torch.no_grad():
        assert torch.equal(loaded(tokens), model.eval()(tokens))


def test_load_model_errors(tmp_path, checkpoint):
    path, model = checkpoint
    with pytest.raises(WaveInputError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(WaveInputError, match="corrupt"):
        load_model(bad)
    ck = torch.load(path, weights_only=True)
    ck["config"]["n_sites"] = 12  # config no longer matches the weights
    mismatched = tmp_path / "mismatch.pt"
    torch.save(ck, mismatched)
    with pytest.raises(WaveInputError, match="config"):
        load_model(mismatched)


def test_cli_probe_writes_npz_and_figure(tmp_path, checkpoint, capsys):
    path, model = checkpoint
    out, fig = tmp_path / "states.npz", tmp_path / "st.png"
    args = [
        "probe",
        str(path),
        "--layer",
        "1",
        "--impulse",
        "--length",
        "24",
        "--channel",
        "3",
        "--out",
        str(out),
        "--plot",
        str(fig),
    ]
    assert main(args) == 0
    field = read_npz(out)
    assert (field.n_sites, field.n_times) == (8, 24)
    assert field.speed_unit == "sites/step"
    m = load_model(path)[0]
    imp = capture_states(m, impulse_tokens(24, 4, 4), 1, channel=3).data
    pads = capture_states(m, torch.zeros(1, 24, dtype=torch.long), 1, channel=3).data
    np.testing.assert_allclose(field.data, imp - pads, rtol=1e-5, atol=1e-6)
    assert fig.read_bytes()[:4] == b"\x89PNG"
    # refuses to overwrite, and reports a layer out of range, as clean exit-2 errors
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (
        main(args[:2] + ["--layer", "7", "--input", "<ab|ab", "--out", str(out), "--overwrite"])
        == 2
    )
    assert "out of range" in capsys.readouterr().err


def _trained_checkpoint(path, seed):
    """A checkpoint as training writes it (model, config and the training seed)."""
    torch.manual_seed(seed)
    model = small("shift-ssm")
    torch.save(
        {
            "model_name": model.name,
            "config": asdict(model.config),
            "vocab_size": V,
            "model_state": model.state_dict(),
            "train": {"seed": seed},
            "step": 10,
        },
        path,
    )
    return path


def test_probe_writes_the_checkpoint_as_subject_and_channels_share_it(tmp_path):
    """The unit of replication of model states is the trained model: every channel of one
    checkpoint carries one subject, another seed another one, and a comparison of channels
    of one model per group gives estimates without p-values."""
    from wavescope.pipelines.compare import run_comparison

    paths = {}
    for seed in (0, 1):
        ckpt = _trained_checkpoint(tmp_path / f"s{seed}.pt", seed)
        for c in range(3):
            out = tmp_path / f"s{seed}_ch{c}.npz"
            args = ["probe", str(ckpt), "--layer", "0", "--impulse", "--length", "32"]
            assert main(args + ["--channel", str(c), "--out", str(out)]) == 0
            paths.setdefault(seed, []).append(out)
    subjects = {s: {read_npz(p).meta["subject"] for p in ps} for s, ps in paths.items()}
    assert all(len(v) == 1 for v in subjects.values())  # one subject per checkpoint
    assert subjects[0] != subjects[1]
    (s0,) = subjects[0]
    assert s0.startswith("shift-ssm seed 0 #")
    meta = read_npz(paths[0][0]).meta
    assert meta["seed"] == 0 and meta["step"] == 10 and len(meta["weights_sha256"]) == 64

    res = run_comparison({"a": paths[0], "b": paths[1]}, progress=False)
    assert res.inputs[0].subject == s0
    speed = [t for t in res.stats.tests if t.property == "speed_median"]
    assert speed and all(t.p_value is None and "1 subject" in t.message for t in speed)
