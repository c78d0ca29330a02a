"""Probes of Hugging Face Mamba / Mamba2 (tiny random models built from a config) and of
any torch module through a hook."""

import sys

import numpy as np
import pytest
import torch
from tolerances import assert_float32_close

from wavescope.core.errors import MissingDependencyError, WaveInputError, WaveTypeError
from wavescope.io import read_npz
from wavescope.models import probe
from wavescope.models.hf_probe import (
    capture_module,
    hf_capture_states,
    hf_impulse_response,
    hf_state_snapshots,
    hf_states,
    load_hf_model,
)
from wavescope.waves import event_time_velocity, measure_velocity
from wavescope.waves.memory import memory_curve

transformers = pytest.importorskip("transformers")

VOCAB = 12


def tiny(kind: str, seed: int):
    """A random-initialised 2-layer model: Mamba (d_inner 16, d_state 4) or Mamba2
    (4 heads of head_dim 4, d_state 4)."""
    torch.manual_seed(seed)
    if kind == "mamba":
        cfg = transformers.MambaConfig(
            vocab_size=VOCAB,
            hidden_size=8,
            state_size=4,
            num_hidden_layers=2,
            expand=2,
            conv_kernel=4,
        )
        return transformers.MambaForCausalLM(cfg).eval()
    cfg = transformers.Mamba2Config(
        vocab_size=VOCAB,
        hidden_size=8,
        state_size=4,
        num_hidden_layers=2,
        expand=2,
        num_heads=4,
        head_dim=4,
        n_groups=1,
        conv_kernel=4,
        chunk_size=8,
    )
    return transformers.Mamba2ForCausalLM(cfg).eval()


def prefill_state(model, tokens, layer, part):
    """Hugging Face's own cache after one full-sequence forward over ``tokens``."""
    with torch.no_grad():
        out = model(input_ids=tokens, use_cache=True)
    cache = out.cache if hasattr(out, "cache") else out.cache_params
    s = cache.get_recurrent_state(layer) if part == "ssm" else cache.get_conv_state(layer)
    return s.float()


@pytest.mark.parametrize("kind", ["mamba", "mamba2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_states_after_every_step_equal_hugging_faces_cache(kind, seed):
    model = tiny(kind, seed)
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (2, 11), generator=g)
    for layer in (0, 1):
        ssm = hf_states(model, tokens, layer, "ssm")  # (B, L, channels, sites)
        conv = hf_states(model, tokens, layer, "conv")
        feats = hf_state_snapshots(model, tokens, layer, "ssm")
        for t in (0, 3, 10):  # after step t: the cache of a forward over tokens[:, :t + 1]
            h = prefill_state(model, tokens[:, : t + 1], layer, "ssm")
            c = prefill_state(model, tokens[:, : t + 1], layer, "conv")
            per_channel = h if kind == "mamba" else h.mean(dim=2)  # Mamba2: per head
            torch.testing.assert_close(ssm[:, t], per_channel, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(conv[:, t], c.flip(-1), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(feats[:, t], h.reshape(2, -1).numpy(), rtol=1e-4, atol=1e-6)
        if kind == "mamba":
            assert ssm.shape == (2, 11, 16, 4) and conv.shape == (2, 11, 16, 4)
        else:
            assert ssm.shape == (2, 11, 4, 4) and conv.shape == (2, 11, 16 + 2 * 4, 4)


@pytest.mark.parametrize("kind", ["mamba", "mamba2"])
def test_capture_conventions_match_the_own_probes(kind):
    model = tiny(kind, 2)
    tokens = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    s = hf_states(model, tokens, 1, "ssm")[0]  # (L, channels, sites)
    f = hf_capture_states(model, tokens, 1, channel=2)
    assert (f.space_unit, f.time_unit, f.fs, f.speed_unit) == ("site", "step", 1.0, "sites/step")
    assert_float32_close(f.data, s[:, 2].T.numpy())  # data[n, t]
    mean = hf_capture_states(model, tokens, -1)
    assert_float32_close(mean.data, s.mean(1).T.numpy())
    for key in ("source", "model", "layer", "part", "channel"):
        assert key in f.meta
    assert f.meta["model"] == f"hf-{kind}" and f.meta["layer"] == 1 and mean.meta["channel"] is None
    # wavescope.models.probe accepts the HF model too ("context" is the conv state there)
    g = probe.capture_states(model, tokens, 1, 2, part="context")
    assert g.meta["part"] == "conv" and g.n_sites == 4


@pytest.mark.parametrize("kind", ["mamba", "mamba2"])
def test_impulse_response_is_zero_before_the_impulse_and_shifts_through_the_conv(kind):
    model = tiny(kind, 3)
    f = hf_impulse_response(model, 0, length=24, part="conv", channel=5)
    assert f.meta["input"] == "impulse-minus-background" and f.meta["impulse_step"] == 4
    assert f.meta["impulse_token"] == 1 and f.meta["background_token"] == 0
    assert np.all(f.data[:, :4] == 0)  # identical inputs before step 4
    # layer 0's conv register holds the layer input of the last 4 steps: the impulse enters
    # site 0 at step 4 and moves one site per step (a shift register at 1 site/step)
    resp = np.abs(f.data)
    for n in range(4):
        assert resp[n, 4 + n] > 0 and np.allclose(resp[n, 4 + n + 1 :], 0)
    v = event_time_velocity(f)
    assert abs(v.speed - 1.0) < 0.05  # the broadband measure reads the shift: 1 site/step
    ssm = hf_impulse_response(model, 0, length=24)
    assert np.all(ssm.data[:, :4] == 0) and np.abs(ssm.data[:, 4:]).max() > 0


def test_measures_and_memory_curves_read_the_captures():
    model = tiny("mamba", 4)
    f = hf_capture_states(model, torch.randint(0, VOCAB, (1, 64)), 0)
    r = measure_velocity(f, (0.1, 0.3), n_surrogates=0, patterns=False)
    assert r.summary()["speed"]["unit"] == "sites/step"
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, size=(30, 20))
    states = hf_state_snapshots(model, tokens, 0, "conv")
    curve = memory_curve(states, tokens, max_lag=5, n_boot=20)
    # the conv register holds exactly the last 4 layer inputs: lag 0-3 decode above chance
    assert curve.score[0] > 2 / VOCAB and curve.score[3] > 2 / VOCAB


def test_folder_saved_with_save_pretrained_loads_offline_and_probes_alike(tmp_path):
    model = tiny("mamba2", 5)
    model.save_pretrained(tmp_path / "m2")
    loaded = load_hf_model(tmp_path / "m2")
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    torch.testing.assert_close(hf_states(loaded, tokens, 1), hf_states(model, tokens, 1))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(WaveInputError, match="mamba, mamba2"):
        load_hf_model(tmp_path / "other")


def test_cli_probes_a_saved_folder(tmp_path, capsys):
    from wavescope.cli.main import main

    model = tiny("mamba", 6)
    model.save_pretrained(tmp_path / "m")
    base = ["probe", str(tmp_path / "m"), "--layer"]
    out = str(tmp_path / "i.npz")
    assert main(base + ["0", "--part", "conv", "--impulse", "--length", "16", "--out", out]) == 0
    f = read_npz(out)
    ref = hf_impulse_response(model, 0, length=16, part="conv")
    # the CLI reloads the folder: another model object, float32 sums in another order
    assert_float32_close(f.data, ref.data)
    out = str(tmp_path / "t.npz")
    assert main(base + ["1", "--tokens", "3,1,4,1,5", "--channel", "7", "--out", out]) == 0
    g = read_npz(out)
    assert_float32_close(g.data, hf_capture_states(model, [3, 1, 4, 1, 5], 1, 7).data)
    capsys.readouterr()
    assert main(base + ["0", "--part", "shift", "--out", str(tmp_path / "x.npz")]) == 2
    assert "ssm and conv" in capsys.readouterr().err
    assert main(base + ["0", "--tokens", "1,x", "--out", str(tmp_path / "y.npz")]) == 2
    assert "comma-separated integer ids" in capsys.readouterr().err


def test_wrong_inputs_are_refused():
    model = tiny("mamba", 7)
    with pytest.raises(WaveInputError, match="out of range"):
        hf_states(model, [1, 2], 2)
    with pytest.raises(WaveInputError, match=r"\[0, 12\)"):
        hf_states(model, [1, 99], 0)
    with pytest.raises(WaveInputError, match="part"):
        hf_states(model, [1, 2], 0, "residual")
    with pytest.raises(WaveTypeError, match="capture_module"):
        hf_states(torch.nn.Linear(2, 2), [1], 0)


def test_missing_transformers_names_the_extra(tmp_path, monkeypatch):
    tiny("mamba", 8).save_pretrained(tmp_path / "m")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"wavescope\[hf\]"):
        load_hf_model(tmp_path / "m")


class DelayLine(torch.nn.Module):
    """A model whose submodule keeps a shift register of its input: site i holds x_{t-i}."""

    def __init__(self, n_sites: int):
        super().__init__()
        self.embed = torch.nn.Embedding(4, 1)
        self.register = torch.nn.Identity()
        self.n = n_sites

    def forward(self, tokens):
        x = self.embed(tokens)[..., 0]  # (B, L)
        xp = torch.nn.functional.pad(x, (self.n - 1, 0))
        window = xp.unfold(1, self.n, 1).flip(-1)  # (B, L, N): site i = x_{t-i}
        return self.register(window).sum(-1)


@pytest.mark.parametrize("n_sites", [6, 10])
def test_any_module_route_reads_a_named_submodule(n_sites):
    model = DelayLine(n_sites)
    tokens = torch.zeros(1, 40, dtype=torch.long)
    tokens[0, 5] = 1
    f = capture_module(model, tokens, "register", lambda out: out)  # (B, L, N) already
    assert f.n_sites == n_sites and f.meta["module"] == "register" and f.meta["part"] == "output"
    base = capture_module(model, torch.zeros_like(tokens), "register", lambda out: out)
    impulse = f.data - base.data  # the response to the one different token
    for i in range(n_sites):
        assert np.flatnonzero(np.abs(impulse[i]) > 1e-6).tolist() == [5 + i]
    assert abs(event_time_velocity(f.with_data(impulse)).speed - 1.0) < 0.02
    g = capture_module(model, tokens, model.register, lambda args: args[0], capture="input")
    # the register's input and output are the same tensor, so equal to the bit
    np.testing.assert_array_equal(g.data, f.data)
    with pytest.raises(WaveInputError, match="no submodule 'nope'"):
        capture_module(model, tokens, "nope", lambda out: out)
    with pytest.raises(WaveInputError, match=r"\(batch, steps, sites\)"):
        capture_module(model, tokens, "register", lambda out: out[0])


@pytest.mark.parametrize("channel", [3, 5])
def test_the_docs_conv_example_prints_one_site_per_step(channel):
    """docs/inputs/hf-models.md: ``wavescope velocity conv.npz --method event-time`` on a
    tiny Mamba's conv state after an impulse, a shift register at 1 site/step, prints
    that speed (it printed none before the event-time route's own test); event times of
    an impulse through a register are exact, so 1e-6."""
    field = hf_impulse_response(tiny("mamba", 3), 0, length=32, part="conv", channel=channel)
    s = measure_velocity(field, method="event-time").summary()
    assert s["speed"]["median"] == pytest.approx(1.0, rel=1e-6), s["warnings"]
