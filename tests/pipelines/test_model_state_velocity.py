"""Model-state velocity end to end through the CLI, with no band or method given.

``wavescope train`` (a shift-SSM, v-Wave models with fixed velocities set from the
command line, a briefly trained v-Wave Mamba), ``wavescope probe ... --impulse`` and
``wavescope velocity states.npz``: the automatic route (the k-omega ridge for a line of
state sites, cross-checked by neighbour lags) recovers the set or learned velocity of
every channel within 3% (measured: within 0.4%), on 64-step probes as on 128-step ones.
"""

import json

import numpy as np
import pytest
import torch

from wavescope.cli.main import main
from wavescope.models.probe import impulse_response, load_model
from wavescope.waves import measure_velocity


def _train(tmp_path, name, *extra, steps=1):
    out = tmp_path / f"run-{name}-{'-'.join(extra).replace('=', '')}"
    argv = ["train", "--model", name, "--steps", str(steps), "--no-progress", "--out", str(out)]
    assert main(argv + list(extra)) == 0
    return out / "checkpoint.pt"


def _cli_speed(tmp_path, ckpt, channel, length):
    states = tmp_path / f"states-{ckpt.parent.name}-{channel}-{length}.npz"
    argv = ["probe", str(ckpt), "--layer", "0", "--impulse", "--channel", str(channel)]
    assert main(argv + ["--length", str(length), "--out", str(states)]) == 0
    js = states.with_suffix(".json")
    assert main(["velocity", str(states), "--json", str(js)]) == 0
    return json.loads(js.read_text())


@pytest.mark.parametrize(
    ("name", "settings", "velocity"),
    [
        ("shift-ssm", (), 1.0),
        *[("vwave", ("--set", "velocity=fixed", "--set", f"v_init={v}"), v) for v in (0.25, 3.0)],
    ],
)
def test_cli_velocity_of_a_probed_state_is_the_set_velocity(
    tmp_path, capsys, name, settings, velocity
):
    ckpt = _train(tmp_path, name, *settings)
    for length in (64, 128):
        s = _cli_speed(tmp_path, ckpt, 2, length)
        assert s["method"] == "komega" and s["speed"]["unit"] == "sites/step"
        assert s["speed"]["median"] == pytest.approx(velocity, rel=0.03), (length, s["speed"])
        assert s["direction"]["majority"] == "forward"
        assert "mean_rad" in s["direction"] and s["direction"]["forward_fraction"] == 1.0
    capsys.readouterr()


def _channels(n: int, every: bool) -> list[int]:
    return list(range(n)) if every else sorted({0, n // 3, (2 * n) // 3, n - 1})


def _fixed_vwave_channels(tmp_path, capsys, v, every):
    ckpt = _train(tmp_path, "vwave", "--set", "velocity=fixed", "--set", f"v_init={v}")
    model, _ = load_model(ckpt)
    with torch.no_grad():
        for ch in _channels(model.layers[0].mixer.shift.velocities().shape[-1], every):
            f = impulse_response(model, 0, 64, channel=ch)
            s = measure_velocity(f).summary()
            assert s["speed"]["median"] == pytest.approx(v, rel=0.03), (ch, s["speed"])
    capsys.readouterr()


@pytest.mark.parametrize("v", [0.25, 0.5, 1.0, 2.0, 3.0])
def test_channels_of_a_fixed_velocity_vwave_within_3pct(tmp_path, capsys, v):
    _fixed_vwave_channels(tmp_path, capsys, v, every=False)  # 4 channels across the layer


@pytest.mark.slow
@pytest.mark.parametrize("v", [0.25, 0.5, 1.0, 2.0, 3.0])
def test_every_channel_of_a_fixed_velocity_vwave_within_3pct(tmp_path, capsys, v):
    _fixed_vwave_channels(tmp_path, capsys, v, every=True)


@pytest.mark.parametrize("every", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_channels_of_a_trained_vwave_mamba_at_their_learned_velocities(tmp_path, capsys, every):
    # 40 steps move the learned per-channel velocities off their initial 1.0
    ckpt = _train(tmp_path, "vwave-mamba", steps=40)
    model, _ = load_model(ckpt)
    learned, errors = [], []
    with torch.no_grad():
        n = model.layers[0].mixer.context.velocities().shape[-1]
        for ch in _channels(n, every):
            for length in (64, 128):
                f = impulse_response(model, 0, length, channel=ch)
                v = f.meta["velocity"]
                s = measure_velocity(f).summary()
                learned.append(v)
                errors.append(s["speed"]["median"] / v - 1)
    assert np.ptp(learned) > 1e-3  # the channels learned different velocities
    assert np.max(np.abs(errors)) <= 0.03, np.round(errors, 4)
    # and through the CLI for one channel
    with torch.no_grad():
        v5 = impulse_response(model, 0, 64, channel=5).meta["velocity"]
    s = _cli_speed(tmp_path, ckpt, 5, 64)
    assert s["speed"]["median"] == pytest.approx(v5, rel=0.03)
    capsys.readouterr()


def test_a_state_without_a_wave_gets_no_speed(tmp_path, capsys):
    # Mamba's selective state decays in place (a diagonal A): no delay between state
    # sites, so the summary gives no speed and says why, rather than a number
    ckpt = _train(tmp_path, "mamba")
    s = _cli_speed(tmp_path, ckpt, 3, 64)
    assert s["speed"]["median"] is None
    assert any("no travelling wave" in w for w in s["warnings"])
    capsys.readouterr()
