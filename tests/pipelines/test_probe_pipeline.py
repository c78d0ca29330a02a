"""The probe job (wavescope.pipelines.probe): one path for checkpoints, Hugging Face
folders and any torch module, and probes that ask the model for its states."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch
from tolerances import assert_float32_close

from wavescope.core.errors import WaveTypeError
from wavescope.core.validate import WaveInputError
from wavescope.io.npz import read_npz
from wavescope.models.hf_probe import ModuleTarget
from wavescope.models.probe import (
    capture_states,
    default_part,
    impulse_response,
    probe_parts,
    wave_velocities,
)
from wavescope.models.registry import build_model, default_config
from wavescope.pipelines.probe import ProbeInput, load_target, probe_model

V = 30


def small(name, **kw):
    torch.manual_seed(0)
    extra = {"n_sites": 8} if name in ("shift-ssm", "vwave", "vwave-mamba") else {}
    extra.update(kw)
    return build_model(name, V, default_config(name, d_model=16, n_layers=2, **extra))


def _checkpoint(path, model):
    torch.save(
        {
            "model_name": model.name,
            "config": asdict(model.config),
            "vocab_size": V,
            "model_state": model.state_dict(),
        },
        path,
    )
    return path


@pytest.mark.parametrize(
    "name, parts",
    [
        ("mamba", ("ssm", "context")),
        ("vwave-mamba", ("context", "ssm")),  # the v-Wave ring carries the wave: default
        ("shift-ssm", ("shift", "diag")),
        ("vwave", ("shift", "diag")),
        ("transformer-rope", ()),
    ],
)
def test_each_model_lists_its_parts(name, parts):
    model = small(name)
    assert probe_parts(model, 1) == parts
    if not parts:
        with pytest.raises(WaveInputError, match="no SSM hidden state"):
            default_part(model)
    else:
        assert default_part(model) == parts[0]


def test_parts_come_from_the_layer_not_the_model_name():
    # a "mamba" whose layer-0 conv is swapped for a v-Wave ring probes that ring by
    # default and reports its velocity; its layer 1, still a conv, does not: the probes
    # ask each layer, they do not look the model's name up
    from wavescope.models.vwave import WaveSSM

    model = small("mamba")
    mixer = model.layers[0].mixer
    mixer.context = WaveSSM(mixer.config.d_inner, 8, velocity="channel", v_init=1.5)
    assert model.name == "mamba" and probe_parts(model, 0) == ("context", "ssm")
    assert probe_parts(model, 1) == ("ssm", "context")
    f = capture_states(model, torch.randint(0, V, (1, 9)), 0, 3)
    assert f.meta["part"] == "context" and f.n_sites == 8
    assert f.meta["velocity"] == pytest.approx(1.5, rel=1e-5)
    assert wave_velocities(model, 1) is None


@pytest.mark.parametrize("name", ["vwave", "vwave-mamba"])
def test_velocity_comes_from_the_wave_part_only(name):
    # known truth: the velocities set on the ring; the other part carries none
    model = small(name)
    ring = model.layers[0].mixer.shift if name == "vwave" else model.layers[0].mixer.context
    v = torch.linspace(0.5, 2.0, ring.channels)
    ring.set_velocity(v)
    np.testing.assert_allclose(wave_velocities(model, 0), v.numpy(), rtol=1e-6)
    wave, other = probe_parts(model, 0)
    tokens = torch.randint(0, V, (1, 6))
    c = ring.channels - 1
    assert capture_states(model, tokens, 0, c, part=wave).meta["velocity"] == pytest.approx(
        2.0, rel=1e-6
    )
    assert "velocity" not in capture_states(model, tokens, 0, c, part=other).meta


def test_checkpoint_and_model_object_give_the_same_capture(tmp_path):
    model = small("shift-ssm")
    path = _checkpoint(tmp_path / "m.pt", model)
    what = ProbeInput(length=16, impulse_token=9, position=3)
    from_file = probe_model(path, 0, what, channel=2, out=tmp_path / "s.npz")
    from_object = probe_model(model, 0, what, channel=2)
    np.testing.assert_array_equal(from_file.field.data, from_object.field.data)
    # the checkpoint names its subject (the trained network); the written file holds it
    assert from_file.subject.startswith("shift-ssm seed unknown #")
    assert read_npz(from_file.out).meta["subject"] == from_file.subject
    assert from_object.subject is None and from_file.model == "shift-ssm"
    # layer 0 of the shift-SSM: site i responds at step 3 + i only (a 1 site/step shift)
    resp = np.abs(from_file.field.data) > 1e-6
    assert all(resp[i, 3 + i] and resp[i].sum() == 1 for i in range(8))
    assert from_file.to_json()["n_sites"] == 8 and from_file.source.startswith("impulse")


class _ShiftRegister(torch.nn.Module):
    """Embedding then an N-site shift register whose output is its state (B, L, N):
    site i holds the first embedding feature of token t - i."""

    def __init__(self, n_sites: int = 5):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(V, 3)
        self.register = torch.nn.Identity()
        self.n_sites = n_sites

    def forward(self, tokens):
        x = self.embed(tokens)[..., 0]  # (B, L)
        L = x.shape[1]
        xp = torch.nn.functional.pad(x, (self.n_sites - 1, 0))
        states = xp.unfold(1, self.n_sites, 1).flip(-1)  # (B, L, N)
        return self.register(states)[:, :L]


def test_any_torch_module_goes_through_the_same_path():
    net = _ShiftRegister()
    target = ModuleTarget(net, "register", lambda s: s)
    result = probe_model(target, None, ProbeInput(length=12, impulse_token=7, pad_token=0))
    f = result.field
    assert f.meta["module"] == "register" and f.meta["input"] == "impulse-minus-background"
    # known truth: the impulse at step 4 sits at site i at step 4 + i, nowhere else
    expected = np.zeros((5, 12))
    delta = float((net.embed.weight[7, 0] - net.embed.weight[0, 0]).detach())
    for i in range(5):
        expected[i, 4 + i] = delta
    np.testing.assert_allclose(f.data, expected, atol=1e-6)
    # the token path of the same target, and the direct probe function, agree
    tokens = ProbeInput(tokens=[1, 2, 3, 4])
    np.testing.assert_array_equal(
        probe_model(target, None, tokens).field.data,
        capture_states(target, [[1, 2, 3, 4]], None).data,
    )
    with pytest.raises(WaveInputError, match="one submodule"):
        impulse_response(target, 1, 8)
    with pytest.raises(WaveInputError, match="copy-task text"):
        probe_model(target, None, ProbeInput(text="ab"))


def test_hugging_face_folder_goes_through_the_same_path(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    cfg = transformers.MambaConfig(
        vocab_size=12, hidden_size=8, state_size=4, num_hidden_layers=2, expand=2, conv_kernel=4
    )
    model = transformers.MambaForCausalLM(cfg).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = load_target(tmp_path / "m")
    assert loaded.label == "MambaForCausalLM" and not loaded.trained_here
    result = probe_model(loaded, 0, ProbeInput(length=16), part="conv", channel=5)
    direct = impulse_response(model, 0, 16, part="context", channel=5)  # "context" = conv
    assert_float32_close(result.field.data, direct.data)
    assert result.field.meta["impulse_token"] == 1  # a HF model's default impulse token
    assert result.subject == "MambaForCausalLM m"


def test_what_cannot_be_probed_is_refused_with_the_way_to_probe_it(tmp_path):
    with pytest.raises(WaveTypeError, match="ModuleTarget"):
        probe_model(torch.nn.Linear(2, 2), 0)
    with pytest.raises(WaveInputError, match="go with --impulse"):
        ProbeInput(tokens=[1, 2], impulse_token=3)
    with pytest.raises(WaveInputError, match="at least 2 steps"):
        ProbeInput(length=1)
