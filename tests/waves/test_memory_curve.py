"""Memory curves (wavescope.waves.memory): known horizons, closed-form R^2, chance, errors."""

import numpy as np
import pytest
from delay_lines import token_delay_line
from threadpoolctl import threadpool_limits

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.waves import memory_curve, memory_curve_field
from wavescope.waves.memory import _ridge_fold


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # these problems are small: BLAS threads only fight each other on a shared machine
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_token_delay_line_horizon_is_its_number_of_sites():
    n_sites, vocab = 6, 5
    states, u = token_delay_line(30, 120, n_sites, vocab)
    c = memory_curve(states, u, max_lag=12)
    assert c.metric == "accuracy" and c.decoder == "ridge"
    assert c.horizon == n_sites  # holds tau = 0..N-1 exactly
    assert c.horizon_time == n_sites  # fs = 1 step
    np.testing.assert_array_equal(c.score[:n_sites], 1.0)  # exact linear read-out
    freq = np.bincount(u[:, : 120 - 0].ravel(), minlength=vocab) / u.size
    assert c.chance == pytest.approx(freq.max(), abs=0.01)  # majority rate, ~1/V
    after = c.score[n_sites:]
    se = c.se[n_sites:]
    assert np.all(after <= c.chance + 3 * se)  # no memory past the register
    assert np.all(after >= c.chance - 4 * se - 0.01)  # and no worse than guessing
    # capacity: N lags at 1 (normalised) plus clipped noise of the chance lags
    assert n_sites <= c.capacity < n_sites + 0.1
    assert c.n_sequences == 30 and c.n_splits == 5
    s = c.summary()
    assert s["horizon"] == n_sites and s["horizon_time"] == n_sites
    assert len(s["score"]) == 13 and s["lags"] == list(range(13))


def test_continuous_delay_line_r2_is_one_over_one_plus_noise_variance():
    """state[t, i] = u[t - i] + sigma * e: the best read-out of u[t - tau] (tau < N) is
    feature tau alone, E[u | x] = x / (1 + sigma^2), so R^2 = 1 / (1 + sigma^2); the other
    features are independent of it."""
    rng = np.random.default_rng(1)
    n_seq, n_steps, n_sites, sigma = 40, 200, 8, 0.5
    u = rng.normal(size=(n_seq, n_steps))
    states = np.zeros((n_seq, n_steps, n_sites))
    for i in range(n_sites):
        states[:, i:, i] = u[:, : n_steps - i]
    states += sigma * rng.normal(size=states.shape)
    c = memory_curve(states, u, max_lag=12)
    assert c.metric == "r2" and c.chance == 0.0
    truth = 1 / (1 + sigma**2)
    # n = 40 x 188 = 7520 held-out samples: the SE of R^2 is about 0.004 here and the
    # out-of-sample loss of fitting p = 8 features is about (1 - R^2) p / n = 2e-4;
    # 0.015 is ~4 SE
    np.testing.assert_allclose(c.score[:n_sites], truth, atol=0.015)
    assert np.all(c.se[:n_sites] < 0.01)
    assert c.horizon == n_sites
    assert np.all(np.abs(c.score[n_sites:]) < 0.01)  # independent: R^2 ~ 0 (<= p/n)


def test_leaky_integrator_follows_the_closed_form():
    """h_t = a h_{t-1} + u_t with white u (variance 1). Stationary var(h) = 1 / (1 - a^2)
    and cov(h_t, u_{t-tau}) = a^tau var(u) = a^tau, so the best linear read-out of
    u_{t-tau} from the scalar h_t has R^2(tau) = corr^2 = (1 - a^2) a^(2 tau); the capacity
    summed over tau = 0..T is 1 - a^(2 (T + 1)) (Jaeger 2001: at most 1 per feature)."""
    rng = np.random.default_rng(2)
    a, n_seq, n_steps, max_lag = 0.8, 40, 250, 15
    u = rng.normal(size=(n_seq, n_steps))
    h = np.zeros((n_seq, n_steps))
    h[:, 0] = u[:, 0] / np.sqrt(1 - a**2)  # start in the stationary distribution
    for t in range(1, n_steps):
        h[:, t] = a * h[:, t - 1] + u[:, t]
    c = memory_curve(h[:, :, None], u, max_lag=max_lag)
    truth = (1 - a**2) * a ** (2 * c.lags)
    # n = 40 x 235 = 9400 samples: the SE of R^2 is <= 0.01 (largest at tau = 0,
    # R^2 = 0.36); 0.03 is 3 of those
    np.testing.assert_allclose(c.score, truth, atol=0.03)
    assert np.all(np.abs(c.score - truth) <= 4 * c.se + 1e-3)
    # lags with R^2 far above 3 SE are found; the horizon ends where R^2 ~ 3 SE (~0.01)
    assert c.above[0] and c.horizon >= 5
    # capacity: truth plus the clipped noise of ~10 lags near 0 (each ~ 0.4 SE ~ 0.002)
    assert c.capacity == pytest.approx(1 - a ** (2 * (max_lag + 1)), abs=0.06)


def test_random_features_have_no_memory_and_false_positives_match_the_criterion():
    """States independent of the inputs: every lag is at chance. With criterion = chance
    + 3 SE a lag is 'above' with probability ~0.0013 (one-sided normal tail); over 4 seeds
    x 21 lags = 84 lags, P(>= 2 false positives) is ~0.005 under that rate."""
    n_above, n_lags = 0, 0
    for seed in range(4):
        rng = np.random.default_rng(10 + seed)
        u = rng.integers(0, 4, size=(25, 120))
        x = rng.normal(size=(25, 120, 16))
        c = memory_curve(x, u, max_lag=20, seed=seed)
        assert c.horizon == 0
        n_above += int(c.above.sum())
        n_lags += c.above.size
        # between guessing (1/V) and the majority rate (chance, here 0.25-0.26)
        assert 0.25 - 0.01 < np.mean(c.score) <= c.chance + 0.005
    assert n_lags == 84 and n_above <= 1


def test_unbalanced_tokens_chance_is_the_majority_rate():
    """An uninformed ridge classifier predicts the majority class (accuracy p_max): the
    guessing rate sum p_k^2 (0.32 here) would call that 0.5 accuracy memory."""
    rng = np.random.default_rng(3)
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.1])
    u = rng.choice(5, size=(30, 120), p=p)
    x = rng.normal(size=(30, 120, 16))
    c = memory_curve(x, u, max_lag=8)
    assert c.chance == pytest.approx(0.5, abs=0.02)
    assert np.all(c.score > np.sum(p**2) + 0.1)  # the decoder reaches the majority rate
    assert c.horizon == 0 and not c.above.any()


def test_field_delay_line_gives_the_same_horizon_as_sequences():
    n_sites, vocab, n_times = 5, 4, 3000
    states, u = token_delay_line(1, n_times, n_sites, vocab, seed=4)
    fld = WaveField.from_line(states[0].T, fs=2.0, time_unit="step")
    c = memory_curve_field(fld, u[0], max_lag=10)
    assert c.horizon == n_sites
    assert c.dt == 0.5 and c.horizon_time == pytest.approx(n_sites * 0.5)
    assert c.meta["groups"] == "time blocks" and c.n_sequences == 10
    assert all(p > 0 for p in c.meta["purged_per_fold"])  # the purge removed samples
    np.testing.assert_array_equal(c.score[:n_sites], 1.0)
    # a bad site is left out: without the site holding u[t - 2], lag 2 is lost
    bad = np.zeros(fld.n_sites, bool)
    bad[2 * vocab : 3 * vocab] = True
    c_bad = memory_curve_field(fld.with_bad(bad), u[0], max_lag=10)
    assert c_bad.horizon == 2 and c_bad.meta["n_sites_used"] == (n_sites - 1) * vocab
    assert c_bad.score[3] == 1.0  # later sites still hold their lags
    # the reach allows the gap: the last lag held is still n_sites - 1
    assert c_bad.reach == n_sites and c.reach == n_sites
    assert c_bad.summary()["reach"] == n_sites
    # a list of fields: one sequence each
    states, u = token_delay_line(6, 200, n_sites, vocab, seed=5)
    flds = [WaveField.from_line(s.T) for s in states]
    c_list = memory_curve_field(flds, list(u), max_lag=10)
    assert c_list.horizon == n_sites and c_list.meta["groups"] == "fields"
    assert c_list.n_sequences == 6


def test_ridge_classifier_matches_sklearn_ridgeclassifier():
    from sklearn.linear_model import Ridge, RidgeClassifier
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(6)
    states, u = token_delay_line(12, 80, 3, 4, seed=6)
    states = states @ rng.normal(size=(12, 10)) + 0.8 * rng.normal(size=(12, 80, 10))
    alpha, lag, max_lag = 3.0, 1, 4
    c = memory_curve(states, u, max_lag=max_lag, alphas=[alpha])
    x = states[:, max_lag:].reshape(-1, 10)
    y = u[:, max_lag - lag : 80 - lag].reshape(-1)
    groups = np.repeat(np.arange(12), 80 - max_lag)
    pred = np.empty_like(y)
    for train, test in GroupKFold(5).split(x, groups=groups):
        clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))
        pred[test] = clf.fit(x[train], y[train]).predict(x[test])
        ours, chosen = _ridge_fold(x[train], y[train][:, None], x[test], "tokens", 4, [alpha])
        np.testing.assert_array_equal(ours[:, 0], pred[test])  # identical predictions
        assert chosen[0] == alpha
        # the regression path against sklearn's Ridge on the same standardised data
        yv = y.astype(float) + rng.normal(size=y.size)
        ours_r, _ = _ridge_fold(x[train], yv[train][:, None], x[test], "values", 0, [alpha])
        ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x[train], yv[train])
        np.testing.assert_allclose(ours_r[:, 0], ref.predict(x[test]), rtol=1e-9, atol=1e-9)
    assert 0.3 < np.mean(pred == y) < 0.99  # an imperfect read-out: a real comparison
    # a wide design (more features than training samples) takes the Gram-matrix route
    xw, yw = rng.normal(size=(40, 60)), rng.integers(0, 3, 40)
    ours, _ = _ridge_fold(xw[:30], yw[:30, None], xw[30:], "tokens", 3, [alpha])
    ref = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha)).fit(xw[:30], yw[:30])
    np.testing.assert_array_equal(ours[:, 0], ref.predict(xw[30:]))
    ours_r, _ = _ridge_fold(xw[:30], xw[:30, :1] @ [[1.0]], xw[30:], "values", 0, [alpha])
    ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(xw[:30], xw[:30, 0])
    np.testing.assert_allclose(ours_r[:, 0], ref.predict(xw[30:]), rtol=1e-9, atol=1e-9)
    # constant features carry nothing: the prediction is the training mean / majority
    ours, _ = _ridge_fold(np.ones((30, 4)), yw[:30, None], np.ones((5, 4)), "tokens", 3, [1.0])
    assert np.all(ours[:, 0] == np.bincount(yw[:30]).argmax())
    assert c.score[lag] == pytest.approx(np.mean(pred == y), abs=1e-12)


def test_gcv_picks_the_penalty_of_the_explicit_hat_matrix():
    """GCV(alpha) = n RSS / (n - 1 - tr H)^2, computed here the slow way from the hat
    matrix of the centred, standardised design; the fold must pick its argmin."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 6))
    y = x @ rng.normal(size=6) * 0.3 + rng.normal(size=120)
    alphas = np.logspace(-2, 4, 13)
    _, chosen = _ridge_fold(x, y[:, None], x[:5], "values", 0, alphas)
    xs = (x - x.mean(0)) / x.std(0)
    yc = y - y.mean()
    gcv = []
    for a in alphas:
        h = xs @ np.linalg.solve(xs.T @ xs + a * np.eye(6), xs.T)
        rss = np.sum((yc - h @ yc) ** 2)
        gcv.append(120 * rss / (120 - 1 - np.trace(h)) ** 2)
    assert chosen[0] == alphas[int(np.argmin(gcv))]


def test_logistic_decoder_reaches_the_same_horizon():
    states, u = token_delay_line(10, 60, 4, 3, seed=8)
    c = memory_curve(states, u, max_lag=6, decoder="logistic")
    assert c.decoder == "logistic" and c.horizon == 4
    np.testing.assert_array_equal(c.score[:4], 1.0)


def test_bad_inputs_raise_clear_errors():
    states, u = token_delay_line(6, 40, 3, 3)
    cases = [
        (lambda: memory_curve(states[:3], u[:3], 5), "n_splits"),
        (lambda: memory_curve(states, u[:, :30], 5), "shape"),
        (lambda: memory_curve(states, u[:5], 5), "shape"),
        (lambda: memory_curve(states, np.zeros_like(u), 5), "constant"),
        (lambda: memory_curve(states, np.ones(u.shape), 5), "constant"),
        (lambda: memory_curve(np.where(states > 0, np.nan, 0), u, 5), "NaN"),
        (lambda: memory_curve(states, u, 40), "max_lag"),
        (lambda: memory_curve(states, u, 39), "at least 2"),
        (lambda: memory_curve(states, u.astype(float), 5, decoder="logistic"), "logistic"),
        (lambda: memory_curve(states, u, 5, decoder="lasso"), "decoder"),
        (lambda: memory_curve(states, u, -1), "max_lag"),
        (lambda: memory_curve(states[0], u[0], 5), "n_sequences"),
    ]
    fld = WaveField.from_line(states[0].T)
    cases += [
        (lambda: memory_curve_field(fld, u[0, :30], 5), "samples"),
        (lambda: memory_curve_field(fld, u[0], 5, n_blocks=3), "n_blocks"),
        (lambda: memory_curve_field([fld, fld], [u[0], u[1]], 5), "fields"),
        (lambda: memory_curve_field(fld, u[0], 5, fs=2.0), "from the field"),
        (lambda: memory_curve_field([fld, fld.crop(0, 30)], [u[0], u[1]], 5), "common length"),
    ]
    for fn, word in cases:
        with pytest.raises(WaveInputError, match=word):
            fn()
