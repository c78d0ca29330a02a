"""Permutation tests, bootstrap intervals, effect sizes, mixed models and FDR.

Each inferential procedure is validated by simulation: under the null the number of
rejections at alpha = 0.05 must not exceed the 99.9% binomial quantile (so a correct
test fails this check once in a thousand runs; seeds are fixed, so the outcome is
deterministic), and a stated power is reached for a stated known difference.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from wavescope.core.validate import WaveInputError
from wavescope.stats.tests import (
    bootstrap_ci,
    circ_mean_difference,
    cliffs_delta,
    cohens_d,
    effect_size,
    fdr,
    hedges_g,
    mixed_effects,
    permutation_test,
)


def _upper(n, alpha=0.05):
    return stats.binom.ppf(0.999, n, alpha)


# ---------------------------------------------------------------- permutation


def test_exact_permutation_p_matches_brute_force_enumeration():
    x = np.array([1.2, 3.4, 2.2, 5.0])
    y = np.array([4.1, 6.3, 5.5, 7.0, 4.9])
    pooled = np.concatenate([x, y])
    obs = x.mean() - y.mean()
    null = []
    for idx in itertools.combinations(range(9), 4):
        mask = np.zeros(9, bool)
        mask[list(idx)] = True
        null.append(pooled[mask].mean() - pooled[~mask].mean())
    expected = np.mean(np.abs(null) >= abs(obs) - 1e-12)
    res = permutation_test(x, y, n_permutations=10_000)
    assert res.exact and res.n_permutations == math.comb(9, 4)
    assert res.p_value == pytest.approx(expected, abs=1e-12)
    assert res.statistic == pytest.approx(obs)
    assert res.min_p == pytest.approx(1 / 126)
    # one-sided: x is smaller, so "less" must be about half the two-sided p or less
    less = permutation_test(x, y, alternative="less", n_permutations=10_000)
    assert less.p_value == pytest.approx(np.mean(np.array(null) <= obs + 1e-12))


def test_permutation_false_positive_rate_and_power():
    rng = np.random.default_rng(10)
    n_sim = 300
    hits = {"mean": 0, "median": 0, "callable": 0}
    trimmed = lambda a, b, axis=-1: stats.trim_mean(a, 0.2, axis) - stats.trim_mean(b, 0.2, axis)  # noqa: E731
    for _ in range(n_sim):
        x, y = rng.standard_normal(8), rng.standard_normal(8)
        hits["mean"] += permutation_test(x, y, n_permutations=199, seed=rng).p_value < 0.05
        hits["median"] += (
            permutation_test(x, y, "median", n_permutations=199, seed=rng).p_value < 0.05
        )
        hits["callable"] += (
            permutation_test(x, y, trimmed, n_permutations=199, seed=rng).p_value < 0.05
        )
    for k, h in hits.items():
        assert h <= _upper(n_sim), k
    # power: shift of 1.5 SD, n = 10 + 10. The two-sample t-test's exact power here is
    # 1 - F_nct(t_crit; df 18, nc 1.5 sqrt(5)) = 0.89; the permutation test of the mean
    # is asymptotically as powerful; we state >= 0.8 (100 datasets, SD of estimate 0.03).
    t_crit = stats.t.ppf(0.975, 18)
    t_power = stats.nct.sf(t_crit, 18, 1.5 * np.sqrt(5))
    assert t_power == pytest.approx(0.89, abs=0.01)
    alt = [
        permutation_test(
            rng.standard_normal(10) + 1.5, rng.standard_normal(10), n_permutations=199, seed=rng
        ).p_value
        for _ in range(100)
    ]
    assert np.mean(np.array(alt) < 0.05) >= 0.8


def test_permutation_rejects_too_few_values_and_never_returns_nan():
    with pytest.raises(WaveInputError, match="at least 2"):
        permutation_test([1.0], [2.0, 3.0])
    with pytest.raises(WaveInputError, match="NaN/inf dropped"):
        permutation_test([1.0, np.nan], [2.0, 3.0])
    res = permutation_test([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert res.p_value == 1.0 and np.isfinite(res.statistic)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_intervals_cover_the_mean_at_the_nominal_rate():
    # Normal data, n = 25: both intervals are slightly narrow (z instead of t quantiles:
    # coverage ~0.94). We require at least the 0.1% binomial quantile of a 0.93 rate.
    rng = np.random.default_rng(11)
    n_sim = 300
    cover = {"percentile": 0, "bca": 0}
    for _ in range(n_sim):
        x = 5 + 2 * rng.standard_normal(25)
        for m in cover:
            ci = bootstrap_ci(x, np.mean, n_boot=400, method=m, seed=rng)
            cover[m] += ci.low <= 5 <= ci.high
    for m, c in cover.items():
        assert c >= stats.binom.ppf(0.001, n_sim, 0.93), m


def test_bca_matches_scipy_bootstrap_on_skewed_data():
    # Independent implementation: scipy.stats.bootstrap (BCa). Both use 20000 resamples,
    # so the endpoints differ by Monte Carlo error only (~0.05 SE); tolerance 0.15 SE.
    rng = np.random.default_rng(12)
    x = rng.exponential(1.0, 30)
    mine = bootstrap_ci(x, np.mean, n_boot=20000, method="bca", seed=1)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method="BCa", random_state=2)
    tol = 0.15 * mine.se
    assert mine.low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert mine.high == pytest.approx(ref.confidence_interval.high, abs=tol)
    # right-skewed data: BCa shifts the interval up relative to the percentile one
    pct = bootstrap_ci(x, np.mean, n_boot=20000, method="percentile", seed=1)
    assert mine.high > pct.high
    # two samples (difference of means), against scipy's multi-sample BCa
    y = rng.exponential(2.0, 20)
    diff = lambda a, b, axis=-1: np.mean(a, axis) - np.mean(b, axis)  # noqa: E731
    mine2 = bootstrap_ci((x, y), diff, n_boot=20000, seed=3)
    ref2 = stats.bootstrap((x, y), diff, n_resamples=20000, method="BCa", random_state=4)
    assert mine2.low == pytest.approx(ref2.confidence_interval.low, abs=0.15 * mine2.se)
    assert mine2.high == pytest.approx(ref2.confidence_interval.high, abs=0.15 * mine2.se)


def test_bootstrap_degenerate_and_small_inputs():
    ci = bootstrap_ci(np.full(10, 3.0), np.median)
    assert (ci.low, ci.estimate, ci.high) == (3.0, 3.0, 3.0)
    with pytest.raises(WaveInputError, match="at least 3"):
        bootstrap_ci([1.0, 2.0], np.mean)
    # a scalar-only statistic (no axis keyword) works through the loop fallback
    ci2 = bootstrap_ci(np.arange(20.0), lambda a: float(np.percentile(a, 75)), n_boot=300)
    assert ci2.low <= ci2.estimate <= ci2.high


# ---------------------------------------------------------------- effect sizes


def test_cliffs_delta_matches_pair_counting_and_mann_whitney():
    rng = np.random.default_rng(13)
    x = rng.integers(0, 6, 15).astype(float)  # ties on purpose
    y = rng.integers(1, 7, 11).astype(float)
    brute = sum(np.sign(a - b) for a in x for b in y) / (x.size * y.size)
    assert cliffs_delta(x, y) == pytest.approx(brute, abs=1e-12)
    u = stats.mannwhitneyu(x, y).statistic
    assert cliffs_delta(x, y) == pytest.approx(2 * u / (x.size * y.size) - 1, abs=1e-12)


def test_cohens_d_and_hedges_g_against_direct_formulas():
    rng = np.random.default_rng(14)
    x, y = rng.normal(1, 2, 12), rng.normal(0, 2, 9)
    sp = np.sqrt((11 * x.var(ddof=1) + 8 * y.var(ddof=1)) / 19)
    assert cohens_d(x, y) == pytest.approx((x.mean() - y.mean()) / sp, rel=1e-12)
    # Hedges' exact bias factor J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)); the
    # approximation 1 - 3/(4 df - 1) is within 1e-4 of it at df = 19.
    df = 19
    j = np.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / np.sqrt(df / 2)
    assert hedges_g(x, y) == pytest.approx(j * cohens_d(x, y), rel=1e-4)
    # Hedges' g is unbiased for the population d = 0.5 (n = 6 + 6): mean over 4000
    # datasets within 3 MC standard errors (SE ~ 0.6/sqrt(4000) = 0.01); d is biased up.
    a = rng.normal(0.5, 1, (4000, 6))
    b = rng.normal(0.0, 1, (4000, 6))
    g = hedges_g(a, b, axis=-1)
    assert np.mean(g) == pytest.approx(0.5, abs=0.03)
    assert np.mean(cohens_d(a, b, axis=-1)) > 0.5 + 0.03


def test_effect_size_interval_contains_the_truth_at_nominal_rate():
    rng = np.random.default_rng(15)
    n_sim, cover = 100, 0
    for _ in range(n_sim):
        x, y = rng.normal(0.8, 1, 20), rng.normal(0, 1, 20)
        e = effect_size(x, y, "hedges_g", n_boot=400, seed=rng)
        assert e.low <= e.estimate <= e.high
        cover += e.low <= 0.8 <= e.high
    # nominal 0.95; required: at least the 0.1% binomial quantile of a 0.90 rate
    assert cover >= stats.binom.ppf(0.001, n_sim, 0.90)


def test_circular_mean_difference_across_the_cut_and_coverage():
    rng = np.random.default_rng(16)
    a = rng.vonmises(3.0, 8.0, 30)
    b = rng.vonmises(-3.0, 8.0, 30)
    e = circ_mean_difference(a, b, seed=1)
    # true difference wrap(3 - (-3)) = 6 - 2 pi = -0.283 rad; SE ~ sqrt(2/(30*8)) = 0.09
    assert e.estimate == pytest.approx(6 - 2 * np.pi, abs=0.3)
    assert e.low < e.estimate < e.high and e.high - e.low < 1.0
    n_sim, cover = 200, 0
    for _ in range(n_sim):
        x, y = rng.vonmises(0.5, 4.0, 20), rng.vonmises(0.0, 4.0, 20)
        e = circ_mean_difference(x, y, n_boot=400, seed=rng)
        cover += e.low <= 0.5 <= e.high
    assert cover >= stats.binom.ppf(0.001, n_sim, 0.92)


# ---------------------------------------------------------------- mixed effects


def _nested(rng, n_sub=6, n_rep=3, effect=0.0, sd_sub=1.0):
    subj = np.repeat(np.arange(2 * n_sub), n_rep)
    group = np.where(subj < n_sub, "cortex", "model")
    y = sd_sub * rng.standard_normal(2 * n_sub)[subj] + rng.standard_normal(subj.size)
    y = y + effect * (group == "model")
    return {"speed": y, "group": group, "seed": subj}


def test_mixed_model_equals_t_test_on_subject_means_when_balanced():
    # For a balanced nested design with positive subject variance, the REML estimate of
    # the group difference is the difference of group means and its t-test (df =
    # subjects - groups) is the two-sample t-test on subject means. Tolerance 1e-4
    # covers the optimiser's convergence.
    rng = np.random.default_rng(17)
    t = _nested(rng, effect=1.0, sd_sub=1.5)
    res = mixed_effects(t, "speed", "group", "seed")
    means = np.array([t["speed"][t["seed"] == s].mean() for s in range(12)])
    tt = stats.ttest_ind(means[6:], means[:6])
    assert res.subject_variance > 0
    eff = res.effects["model"]
    assert eff["estimate"] == pytest.approx(means[6:].mean() - means[:6].mean(), abs=1e-6)
    assert eff["p_value"] == pytest.approx(tt.pvalue, abs=1e-4)
    assert res.df == 10 and res.reference == "cortex" and res.n_obs == 36
    # a list of row dicts gives the same answer
    rows = [dict(zip(t, v)) for v in zip(*t.values())]
    assert mixed_effects(rows, "speed", "group", "seed").effects["model"]["estimate"] == (
        pytest.approx(eff["estimate"], abs=1e-9)
    )


def test_mixed_model_false_positive_rate_and_power():
    rng = np.random.default_rng(18)
    n_sim = 150
    p = [
        mixed_effects(_nested(rng), "speed", "group", "seed").effects["model"]["p_value"]
        for _ in range(n_sim)
    ]
    assert int(np.sum(np.array(p) < 0.05)) <= _upper(n_sim)
    # power: effect 2.5 with subject SD 1, residual SD 1, 3 recordings, 6 subjects per
    # group: SE of the difference sqrt(2 (1 + 1/3) / 6) = 0.667, noncentrality 3.75, t
    # with 10 df: power 1 - F_nct(2.23; 10, 3.75) = 0.92; we state >= 0.75 (40
    # datasets, binomial SD of the estimate 0.04). (At effect 2.0 theory gives 0.75 and
    # 200 simulated datasets gave 0.73.)
    power = stats.nct.sf(stats.t.ppf(0.975, 10), 10, 2.5 / np.sqrt(2 * (4 / 3) / 6))
    assert power == pytest.approx(0.92, abs=0.01)
    alt = [
        mixed_effects(_nested(rng, effect=2.5), "speed", "group", "seed").effects["model"][
            "p_value"
        ]
        for _ in range(40)
    ]
    assert np.mean(np.array(alt) < 0.05) >= 0.75


def test_mixed_model_refuses_designs_it_cannot_fit():
    t = {"y": [1.0, 2.0, 3.0, 4.0], "group": ["a", "a", "b", "b"], "subj": [0, 0, 1, 1]}
    with pytest.raises(WaveInputError, match="at least 3 subjects"):
        mixed_effects(t, "y", "group", "subj")
    t2 = {"y": [1.0, 2.0, 3.0, np.nan], "group": ["a", "a", "a", "b"], "subj": [0, 1, 2, 3]}
    with pytest.raises(WaveInputError, match="'b' has 0|at least 2 groups"):
        mixed_effects(t2, "y", "group", "subj")
    with pytest.raises(WaveInputError, match="column 'nope'"):
        mixed_effects(t, "nope", "group", "subj")


# ---------------------------------------------------------------- FDR


def _bh(p):
    """Benjamini-Hochberg adjusted p-values, written out from the 1995 step-up rule."""
    p = np.asarray(p)
    m = p.size
    order = np.argsort(p)
    adj = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1)
    return out


def test_fdr_matches_step_up_rule_and_controls_the_rate():
    rng = np.random.default_rng(19)
    p = rng.uniform(0, 0.2, 12)
    reject, q = fdr(p, 0.05)
    np.testing.assert_allclose(q, _bh(p), atol=1e-12)
    np.testing.assert_array_equal(reject, _bh(p) <= 0.05)
    d_rej, d_q = fdr({"speed": 0.001, "pgd": 0.04, "wave_fraction": 0.5})
    assert d_rej == {"speed": True, "pgd": False, "wave_fraction": False}
    assert d_q["pgd"] == pytest.approx(0.06)
    # FDR simulation: 10 true nulls (uniform p) and 10 alternatives (z shifted by 3),
    # 1000 families: the mean false-discovery proportion stays <= 0.05 * 10/20 plus
    # 3 MC standard errors (BH controls FDR at alpha * m0 / m for independent tests).
    z = np.concatenate([rng.standard_normal((1000, 10)), 3 + rng.standard_normal((1000, 10))], 1)
    pv = stats.norm.sf(z)
    fdp = []
    for row in pv:
        rej, _ = fdr(row, 0.05)
        fdp.append(rej[:10].sum() / max(rej.sum(), 1))
    fdp = np.array(fdp)
    assert fdp.mean() <= 0.025 + 3 * fdp.std() / np.sqrt(1000)
    with pytest.raises(WaveInputError, match="NaN"):
        fdr([0.1, np.nan])


def test_permutation_refuses_statistics_that_are_nan():
    with pytest.raises(WaveInputError, match="NaN/inf"):
        permutation_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], lambda a, b: np.nan)


def test_random_relabelling_p_agrees_with_the_exact_p():
    # 7 + 7 values: 3432 splits. 3000 random relabellings estimate the exact p within
    # Monte Carlo error sqrt(p (1 - p) / 3000) ~ 0.007 at p ~ 0.2; tolerance 3 SE.
    rng = np.random.default_rng(21)
    x, y = rng.normal(0.6, 1, 7), rng.normal(0, 1, 7)
    exact = permutation_test(x, y, n_permutations=5000)
    approx = permutation_test(x, y, n_permutations=3000, seed=1)
    assert exact.exact and not approx.exact
    assert 0.05 < exact.p_value < 0.5
    se = np.sqrt(exact.p_value * (1 - exact.p_value) / 3000)
    assert approx.p_value == pytest.approx(exact.p_value, abs=3 * se)
