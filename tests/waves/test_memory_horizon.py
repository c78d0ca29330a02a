"""The memory horizon against known truth: delay lines, a weak tail, a leaky integrator."""

import numpy as np
import pytest
from delay_lines import token_delay_line
from threadpoolctl import threadpool_limits

from wavescope.core.validate import WaveInputError
from wavescope.waves.memory import EFFECT_FRACTION, memory_curve


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def five_steps_and_a_weak_tail(n_seq, n_steps, vocab, seed, n_tail=20, gain=0.35):
    """Sites 0-4 hold the one-hot code of u[t - i] exactly (memory of 5 steps); sites
    5 .. 5 + n_tail - 1 hold u[t - i] scaled by gain * 0.97^(i - 5) in unit-variance noise:
    a real, slowly fading trace, decoded at a few percent above chance."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, vocab, size=(n_seq, n_steps))
    onehot = np.eye(vocab)[u]
    sites = []
    for i in range(5 + n_tail):
        f = np.zeros_like(onehot)
        f[:, i:] = onehot[:, : n_steps - i]
        if i >= 5:
            f = gain * 0.97 ** (i - 5) * f + rng.normal(size=f.shape)
        sites.append(f)
    return np.concatenate(sites, axis=2), u


@pytest.mark.parametrize("n_sites", [1, 3, 6, 10])
@pytest.mark.parametrize("seed", [0, 1])
def test_delay_line_of_n_sites_has_horizon_exactly_n(n_sites, seed):
    states, u = token_delay_line(30, 80, n_sites, 5, seed=seed)
    c = memory_curve(states, u, max_lag=14, n_boot=200, seed=seed)
    assert c.horizon == n_sites and c.reach == n_sites
    assert c.meta["horizon_significance_only"] == n_sites  # the two criteria agree here
    # the effect floor sits at a tenth of the way from chance to the perfect lags
    assert c.effect_floor == pytest.approx(c.chance + EFFECT_FRACTION * (1 - c.chance))


@pytest.mark.parametrize("n_sites", [2, 5])
@pytest.mark.parametrize("seed", [2, 3])
def test_noisy_delay_line_keeps_horizon_n(n_sites, seed):
    """The register's sites mixed into 40 features with noise: held lags are decoded
    imperfectly (but far above a tenth of the way), later ones not at all."""
    rng = np.random.default_rng(seed)
    states, u = token_delay_line(40, 80, n_sites, 5, seed=seed)
    x = states @ rng.normal(size=(states.shape[-1], 40)) + 2.5 * rng.normal(size=(40, 80, 40))
    c = memory_curve(x, u, max_lag=10, n_boot=200, seed=seed)
    assert c.horizon == n_sites
    assert 0.5 < c.score[:n_sites].min() < 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_five_steps_and_a_weak_tail_has_horizon_5_not_the_tail(seed):
    states, u = five_steps_and_a_weak_tail(60, 200, 8, seed)
    c = memory_curve(states, u, max_lag=30, n_boot=300, seed=seed)
    norm = (c.score - c.chance) / (1 - c.chance)
    assert np.all(norm[:5] > 0.99) and np.all(norm[5:] < 0.08)  # the construction
    # the tail is real and, with 10,200 held-out samples, significant for many lags:
    # significance alone stretches the horizon over it (this is the failure being fixed)
    assert c.meta["horizon_significance_only"] >= 12  # 16-25 over 13 seeds tried
    assert c.horizon == 5 and c.reach == 5
    assert np.all(c.threshold[5:] >= c.effect_floor) and not c.above[5:].any()
    # with the effect size switched off the old, significance-only horizon comes back
    c0 = memory_curve(states, u, max_lag=30, n_boot=300, seed=seed, effect_fraction=0.0)
    assert c0.horizon == c.meta["horizon_significance_only"]
    np.testing.assert_array_equal(c0.above, c.significant)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leaky_integrator_horizon_is_where_r2_falls_under_a_tenth(seed):
    """h_t = a h_{t-1} + u_t, white u: R^2(tau) = (1 - a^2) a^(2 tau). With a^2 = 1/2 the
    ratio to lag 0 is 2^-tau: 0.125 at tau = 3 and 0.0625 at tau = 4, either side of 0.1,
    so the horizon is 4 (each ~4 SE of R^2 from the floor at 24,000 samples)."""
    rng = np.random.default_rng(seed)
    a, n_seq, n_steps = np.sqrt(0.5), 60, 420
    u = rng.normal(size=(n_seq, n_steps))
    h = np.zeros((n_seq, n_steps))
    h[:, 0] = u[:, 0] / np.sqrt(1 - a**2)
    for t in range(1, n_steps):
        h[:, t] = a * h[:, t - 1] + u[:, t]
    c = memory_curve(h[:, :, None], u, max_lag=12, n_boot=300, seed=seed)
    assert c.horizon == 4
    assert c.meta["horizon_significance_only"] > 4  # significance alone runs past it


def test_summary_carries_what_a_figure_draws():
    states, u = five_steps_and_a_weak_tail(30, 100, 6, 4, n_tail=6)
    c = memory_curve(states, u, max_lag=12, n_boot=100)
    s = c.summary()
    for key in ("threshold", "criterion", "effect_floor", "effect_fraction", "significant",
                "above", "horizon", "horizon_significance_only", "reach"):  # fmt: skip
        assert key in s
    np.testing.assert_allclose(s["threshold"], np.maximum(s["criterion"], s["effect_floor"]))
    np.testing.assert_array_equal(s["above"], np.asarray(s["score"]) > s["threshold"])
    assert s["effect_fraction"] == EFFECT_FRACTION
    assert s["horizon_significance_only"] == c.horizon_significance_only


@pytest.mark.parametrize("bad", [-0.1, 1.0, np.nan])
def test_effect_fraction_out_of_range_raises(bad):
    states, u = token_delay_line(6, 30, 2, 3)
    with pytest.raises(WaveInputError, match="effect_fraction"):
        memory_curve(states, u, 4, effect_fraction=bad)
