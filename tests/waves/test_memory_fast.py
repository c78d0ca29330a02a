"""The exact (per-fold, float64) streamed ridge decoder of memory curves equals a plain
scikit-learn loop; the fast default is compared with it in test_memory_reduced.py."""

import tracemalloc

import numpy as np
import pytest
from delay_lines import token_delay_line
from memory_reference import reference_fold, reference_scores
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from wavescope.waves import memory_ridge
from wavescope.waves.memory import ALPHAS, _lagged, _ridge_fold, memory_curve


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def noisy_states(n_seq, n_steps, n_feat, kind, seed):
    """A 3-site delay line mixed into ``n_feat`` features plus noise: imperfect read-out,
    so that penalties and predictions are a real comparison."""
    rng = np.random.default_rng(seed)
    states, u = token_delay_line(n_seq, n_steps, 3, 4, seed=seed)
    x = states @ rng.normal(size=(states.shape[-1], n_feat))
    x += 1.5 * np.sqrt(n_feat / 24) * rng.normal(size=x.shape)
    x[..., 0] = 7.0  # a constant feature: centred to 0, carries nothing
    if kind == "values":
        u = u + 0.5 * rng.normal(size=u.shape)
    return x, u


def design(states, u, max_lag, n_splits):
    n_seq, n_steps, p = states.shape
    x = states[:, max_lag:].reshape(-1, p)
    codes = u if u.dtype.kind == "f" else np.unique(u, return_inverse=True)[1].reshape(u.shape)
    y = _lagged(codes, max_lag)
    groups = np.repeat(np.arange(n_seq), n_steps - max_lag)
    return x, y, list(GroupKFold(n_splits).split(x, groups=groups))


# tall: 20 x 26 = 520 rows, 416 per training fold >= 24 features; wide: 100 features
@pytest.mark.parametrize("n_feat", [24, 100])
@pytest.mark.parametrize("kind", ["tokens", "values"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_memory_curve_equals_the_plain_sklearn_loop(n_feat, kind, seed, monkeypatch):
    # 7 rows per chunk: the streamed passes cover many chunks, as they do at full size
    monkeypatch.setattr(memory_ridge, "CHUNK_BYTES", 8 * n_feat * 7)
    states, u = noisy_states(20, 30, n_feat, kind, seed)
    max_lag, alphas = 4, ALPHAS[::2]
    c = memory_curve(states, u, max_lag, alphas=alphas, n_boot=50, exact=True)
    x, y, splits = design(states, u, max_lag, 5)
    score, chosen, _ = reference_scores(x, y, splits, kind, alphas)
    # accuracy: the same predictions, hence exactly the same pooled fraction; R^2: the
    # same fit to rounding (the two solve the same normal equations by different routes)
    if kind == "tokens":
        np.testing.assert_array_equal(c.score, score)
        # lags 0-2 are held, imperfectly somewhere: a real comparison of predictions
        assert c.score[:3].min() > 0.3 and c.score[:3].min() < 1.0
    else:
        np.testing.assert_allclose(c.score, score, rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.meta["alpha_median"], np.median(chosen, axis=0), rtol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_ridge_fold_on_scattered_rows_equals_the_reference(seed):
    """Folds of arbitrary (purged, non-contiguous) rows, tall and wide."""
    rng = np.random.default_rng(seed)
    for n_feat in (10, 300):
        x = rng.normal(size=(400, n_feat))
        y = rng.integers(0, 3, size=(400, 4))
        x[:, :3] += 2.0 * (y[:, :3] == 1)  # lags 0-2 readable
        train = np.sort(rng.choice(400, 250, replace=False))
        test = np.setdiff1d(np.arange(400), train)[::2]
        pred, alpha = _ridge_fold(x[train], y[train], x[test], "tokens", 3, ALPHAS)
        ref, ref_alpha = reference_fold(x[train], y[train], x[test], "tokens", ALPHAS)
        np.testing.assert_array_equal(pred, ref)
        np.testing.assert_array_equal(alpha, ref_alpha)


def test_float32_states_and_snapshot_only_states_give_the_same_curve():
    states, u = noisy_states(15, 40, 30, "tokens", 5)
    s32 = states.astype(np.float32)
    c64 = memory_curve(s32.astype(np.float64), u, 6, n_boot=50)
    c32 = memory_curve(s32, u, 6, n_boot=50)
    snap = memory_curve(np.ascontiguousarray(s32[:, 6:]), u, 6, n_boot=50, states_start=6)
    for c in (c32, snap):
        np.testing.assert_array_equal(c.score, c64.score)
        np.testing.assert_array_equal(c.se, c64.se)
        assert c.horizon == c64.horizon
    mid = memory_curve(s32[:, 2:], u, 6, n_boot=50, states_start=2)
    np.testing.assert_array_equal(mid.score, c64.score)


def test_the_decoder_holds_no_copy_of_the_states(monkeypatch):
    """Peak numpy allocation of memory_curve on 20 MB of float32 states: a float64 copy
    would be 40 MB; the streamed decoder reads 1 MB chunks and holds p x p matrices."""
    monkeypatch.setattr(memory_ridge, "CHUNK_BYTES", 2**20)
    rng = np.random.default_rng(6)
    u = rng.integers(0, 4, size=(100, 200))
    states = rng.normal(size=(100, 200, 256)).astype(np.float32)
    states[..., :4] += np.eye(4, dtype=np.float32)[u]
    # one small call first: imports and caches made on first use (scikit-learn's folds,
    # scipy's LAPACK wrappers) are not the decoder's working memory, and counted only
    # when this test runs alone (10.4 MB alone against 9.7 MB after other tests)
    memory_curve(states[:10, :20], u[:10, :20], 3, n_boot=5)
    tracemalloc.start()
    try:
        c = memory_curve(states, u, 10, n_boot=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert c.horizon == 1
    # lagged targets, predictions and per-group sums of 19,000 rows x 11 lags take ~6 MB
    assert peak < 0.5 * states.nbytes, f"peak {peak / 2**20:.1f} MB"


def test_states_start_is_checked():
    from wavescope.core.validate import WaveInputError

    states, u = noisy_states(10, 30, 8, "tokens", 7)
    with pytest.raises(WaveInputError, match="states_start"):
        memory_curve(states[:, 8:], u, 5, states_start=8)
    with pytest.raises(WaveInputError, match="shape"):
        memory_curve(states[:, 5:], u, 5)  # 25 steps of states for 30 of inputs


def test_blas_threads_is_a_valid_count():
    n = memory_ridge.blas_threads()
    assert 1 <= n <= (len(__import__("os").sched_getaffinity(0)))
