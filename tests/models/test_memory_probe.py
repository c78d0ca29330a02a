"""Memory curves of model layers: shift register, v-Wave velocities, residual stream, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tolerances import assert_float32_close

from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.models.memory_probe import batched_snapshots, model_memory_curve, random_letters
from wavescope.models.probe import hidden_states, state_snapshots
from wavescope.models.registry import build_model, default_config
from wavescope.models.tasks import FIRST_LETTER, N_LETTERS

V = 30
# Small curves keep each under ~7 s on one core: 40 sequences x (36 - max_lag) snapshots.
FAST = dict(n_sequences=40, n_boot=200)


def tiny(name, **kw):
    torch.manual_seed(0)
    return build_model(name, V, default_config(name, d_model=32, n_layers=1, **kw))


def test_random_letters_are_uniform_copy_letters():
    u = random_letters(200, 50, seed=1)
    assert u.shape == (200, 50) and u.dtype == np.int64
    assert u.min() == FIRST_LETTER and u.max() == FIRST_LETTER + N_LETTERS - 1
    counts = np.bincount(u.ravel() - FIRST_LETTER, minlength=N_LETTERS)
    # 10,000 draws: each letter ~ 385 +- 19.6 (binomial SD); 5 SD covers all 26 letters
    assert np.abs(counts - u.size / N_LETTERS).max() < 5 * np.sqrt(u.size / N_LETTERS)


def test_snapshots_flatten_every_channel_and_site_of_the_ssm_state():
    model = tiny("vwave", n_sites=8)
    tok = torch.from_numpy(random_letters(3, 12))
    snap = state_snapshots(model, tok, 0)
    ref = hidden_states(model, tok, 0).numpy()  # (B, L, channels, sites)
    assert snap.shape == (3, 12, 32 * 8) and snap.dtype == np.float32
    np.testing.assert_array_equal(snap, ref.reshape(3, 12, -1))
    # batching the capture changes nothing
    assert_float32_close(batched_snapshots(model, tok.numpy(), 0, batch_size=2), snap)


@pytest.mark.parametrize("name", ["mamba", "transformer-alibi"])
def test_residual_part_is_the_output_of_the_block(name):
    torch.manual_seed(0)
    model = build_model(name, V, default_config(name, d_model=16, n_layers=2))
    tok = torch.from_numpy(random_letters(2, 10))
    with torch.no_grad():  # the reference: run the blocks by hand
        x = model.layers[0](model.embedding(tok))
        x1 = model.layers[1](x)
    np.testing.assert_allclose(state_snapshots(model, tok, 0, "residual"), x.numpy(), atol=1e-6)
    np.testing.assert_allclose(state_snapshots(model, tok, 1, "residual"), x1.numpy(), atol=1e-6)


def test_shift_ssm_with_n_sites_has_horizon_exactly_n():
    N = 8
    curve = model_memory_curve(tiny("shift-ssm", n_sites=N), 0, length=36, max_lag=14, **FAST)
    # site i holds k_{t-i}, the key vector of the letter i steps ago, for i < N: 26 distinct
    # vectors in 32 dimensions are linearly separable, so recall is exact (allow 2 % for
    # the decoder's penalty); from lag N on the state holds nothing about the letter
    assert curve.horizon == N
    assert curve.score[:N].min() > 0.98
    assert not curve.above[N:].any()
    # chance is the majority-class rate of the held-out letters: 1/26 plus the excess of
    # the most frequent of 26 letters in n = 40 x 22 draws, ~2-3 binomial SDs, below 4
    n, p = 40 * (36 - 14), 1 / 26
    assert p <= curve.chance < p + 4 * np.sqrt(p * (1 - p) / n)
    # capacity: N lags at accuracy ~1, the rest at chance (clipped at 0)
    assert curve.capacity == pytest.approx(N, abs=0.3)
    assert curve.meta["model"] == "shift-ssm" and curve.meta["part"] == "shift"
    assert curve.meta["n_features"] == 32 * N


def test_vwave_horizon_grows_as_velocity_falls():
    """Ring of N = 8 sites: a letter reaches site v tau at lag tau and wraps onto site 0 at
    tau = N / v, so the horizon is ~ N / v = 4, 8, 16 steps for v = 2, 1, 0.5.

    decay = 0.3 per site: a wrapped letter is scaled by exp(-0.3 N) = 0.09 under the newest
    one, too weak to be decoded (with a weak decay, 0.05, it still is: the wrap leaks).
    Integer v puts every letter of the first lap on its own site(s), so the horizon is
    exactly N / v. At v = 0.5 odd lags sit between two sites (band-limited, Dirichlet
    blur) and the oldest are damped to exp(-0.3 * 0.5 * tau) ~ 0.1 of the newest, so the
    last one or two lags before the wrap may fall under the criterion: N / v - 2 .. N / v.
    """
    N = 8
    h = {}
    for v in (2.0, 1.0, 0.5):
        model = tiny("vwave", n_sites=N, velocity="fixed", v_init=v, decay=0.3)
        c = model_memory_curve(model, 0, length=32, max_lag=18, **FAST)
        assert c.meta["velocities"] == pytest.approx([v] * 32, rel=1e-5)
        h[v] = c.horizon
    assert h[2.0] < h[1.0] < h[0.5]
    assert h[2.0] == N / 2 and h[1.0] == N
    assert N / 0.5 - 2 <= h[0.5] <= N / 0.5


def test_transformer_residual_stream_holds_the_current_letter():
    model = tiny("transformer-rope")
    curve = model_memory_curve(model, 0, length=16, max_lag=4, **FAST)
    # the residual stream after block 0 is the embedding of the current letter plus the
    # block's update, whose attention averages the letters so far: the current letter is
    # held (horizon >= 1) and more strongly than any earlier one
    assert curve.meta["part"] == "residual" and curve.meta["n_features"] == 32
    assert curve.horizon >= 1 and curve.score[0] > curve.score[1:].max()


def test_bad_input_raises():
    ssm, tf = tiny("shift-ssm", n_sites=4), tiny("transformer-rope")
    with pytest.raises(WaveInputError, match="too few"):
        model_memory_curve(ssm, 0, n_sequences=4, length=20, max_lag=4)
    with pytest.raises(WaveInputError, match="not a state of transformer-rope"):
        model_memory_curve(tf, 0, part="shift", n_sequences=20, length=20, max_lag=4)
    with pytest.raises(WaveInputError, match="not a state of shift-ssm"):
        model_memory_curve(ssm, 0, part="ssm", n_sequences=20, length=20, max_lag=4)
    with pytest.raises(WaveInputError, match="out of range"):
        model_memory_curve(ssm, 1, n_sequences=20, length=20, max_lag=4)
    with pytest.raises(WaveInputError, match="must exceed max_lag"):
        model_memory_curve(ssm, 0, n_sequences=20, length=10, max_lag=10)
    with pytest.raises(WaveInputError, match="batch_size"):
        model_memory_curve(ssm, 0, n_sequences=20, length=20, max_lag=4, batch_size=0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

    out = tmp_path_factory.mktemp("run")
    train(
        "shift-ssm",
        TrainHParams(steps=4, seed=0, batch_size=4),
        out_dir=out,
        task=TaskSpec(length=6),
        model_config=dict(d_model=32, n_layers=1, n_sites=4),
        evaluation=EvalSpec(lengths=[6], examples=4, modes=("teacher",)),
        log=LogSpec(every=2, progress=False),
    )
    return out / "checkpoint.pt"


def test_cli_memory_curve_end_to_end(checkpoint, tmp_path, capsys):
    out = tmp_path / "curve.json"
    args = ["probe", str(checkpoint), "--layer", "0", "--memory-curve", "--max-lag", "8"]
    args += ["--n-sequences", "30", "--length", "24", "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    s = json.loads(out.read_text())
    # 4 trained steps barely move the weights: the 4-site register still holds 4 letters
    assert s["horizon"] == 4 and s["meta"]["model"] == "shift-ssm"
    assert f"memory horizon {s['horizon']} steps" in printed and "capacity" in printed
    assert main(args) == 2  # the JSON exists: --overwrite is needed
    assert "exists" in capsys.readouterr().err


def test_cli_memory_curve_plot(checkpoint, tmp_path):
    png = tmp_path / "curve.png"
    args = ["probe", str(checkpoint), "--layer", "0", "--memory-curve", "--max-lag", "6"]
    assert main(args + ["--n-sequences", "20", "--length", "16", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_exit_2(checkpoint, capsys):
    base = ["probe", str(checkpoint), "--layer", "0"]
    assert main(base) == 2  # neither --out nor --memory-curve
    assert "--out is required" in capsys.readouterr().err
    assert main(base + ["--memory-curve", "--part", "ssm", "--n-sequences", "20"]) == 2
    assert "not a state of shift-ssm" in capsys.readouterr().err
    assert main(base + ["--memory-curve", "--impulse"]) == 2
    assert "random letters" in capsys.readouterr().err


def test_fast_decoder_matches_the_exact_one_on_model_states():
    """Issue 21's tolerance on real model states: a random v-Wave Mamba layer (64
    channels x 8 sites, rank about 210 of 512 over 60 x 22 snapshots) decoded by the fast
    default (shared rank-r basis, SD over all rows) and by the exact per-fold float64 reference:
    the same horizon and every lag's accuracy within 0.005."""
    model = tiny("vwave-mamba", n_sites=8)
    kw = dict(n_sequences=60, length=36, max_lag=14, n_boot=200)
    fast = model_memory_curve(model, 0, **kw)
    exact = model_memory_curve(model, 0, exact=True, **kw)
    assert exact.meta["exact"] and not fast.meta["exact"]
    assert fast.meta["rank"] < 0.85 * fast.meta["n_features"]  # the fast path ran
    assert 0.1 < exact.score.min() < exact.score.max() < 1.0  # imperfect: predictions can differ
    assert fast.horizon == exact.horizon
    np.testing.assert_allclose(fast.score, exact.score, rtol=0, atol=0.005)


def test_spilled_states_give_the_same_curve():
    """States captured into a temporary file (spill=True, the default for large captures)
    give the curve of states held in memory, to the last digit."""
    model = tiny("vwave-mamba", n_sites=8)
    kw = dict(n_sequences=20, length=24, max_lag=6, n_boot=50)
    in_file = model_memory_curve(model, 0, spill=True, **kw)
    in_memory = model_memory_curve(model, 0, spill=False, **kw)
    np.testing.assert_array_equal(in_file.score, in_memory.score)
    assert in_file.horizon == in_memory.horizon
    states = batched_snapshots(model, random_letters(6, 10), 0, batch_size=4, spill=True)
    assert states.shape == (6, 10, in_file.meta["n_features"])
    np.testing.assert_array_equal(
        states.source().rows(np.arange(60)),
        batched_snapshots(model, random_letters(6, 10), 0, batch_size=4).reshape(60, -1),
    )
    states.close()
