"""Circular statistics against Zar's worked examples, independent formulas and simulation.

Published values (Zar JH 2010, Biostatistical Analysis, 5th ed., ch. 26-27; the data are
the book's, as also used by the tests of pycircstat2) are quoted with the rounding the
book prints; the tolerances are half a unit of the last printed digit.
"""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq
from scipy.special import i0e, i1e

from wavescope.core.validate import WaveInputError
from wavescope.stats.circular import (
    angular_deviation,
    circ_circ_corr,
    circ_kappa,
    circ_linear_corr,
    circ_mean,
    circ_std,
    circ_var,
    rayleigh_test,
    resultant_length,
    v_test,
    watson_williams_permutation,
    watson_williams_test,
)

deg = np.deg2rad
# Zar Example 26.2/26.4: eight trees' directions (degrees).
TREES = deg([45, 55, 81, 96, 110, 117, 132, 154])
# Zar Example 27.2: ten homing directions, expected direction 90 deg.
HOMING = deg([66, 75, 86, 88, 88, 93, 97, 101, 118, 130])


def _upper(n, alpha=0.05):
    """Largest false-positive count compatible with rate alpha (0.1% binomial slack)."""
    return stats.binom.ppf(0.999, n, alpha)


def _lower(n, alpha=0.05):
    return stats.binom.ppf(0.001, n, alpha)


# ---------------------------------------------------------------- descriptive


def test_mean_and_resultant_length_match_zar_example_26_4():
    # Zar Ex. 26.4: mean angle 99 deg, r = 0.82522.
    assert np.rad2deg(circ_mean(TREES)) == pytest.approx(99, abs=0.5)
    assert resultant_length(TREES) == pytest.approx(0.82522, abs=5e-6)


def test_dispersion_matches_zar_example_26_5():
    # Zar Ex. 26.5: angular deviation s = 34 deg, circular standard deviation s0 = 36 deg.
    assert np.rad2deg(angular_deviation(TREES)) == pytest.approx(34, abs=0.5)
    assert np.rad2deg(circ_std(TREES)) == pytest.approx(36, abs=0.5)
    assert circ_var(TREES) == pytest.approx(1 - 0.82522, abs=5e-6)


def test_circular_std_tends_to_linear_std_when_concentrated():
    # For small spread, R = exp(-s^2/2) for wrapped normal, so s0 = s exactly in
    # expectation; 4000 samples give ~1% sampling error on the std.
    rng = np.random.default_rng(1)
    a = 2.0 + 0.1 * rng.standard_normal(4000)
    assert circ_std(a) == pytest.approx(np.std(a), rel=0.02)
    assert circ_var(rng.uniform(0, 2 * np.pi, 4000)) == pytest.approx(1, abs=0.05)


def test_kappa_approximation_within_1pct_of_exact_inverse():
    # Exact A1^{-1}(r) by root finding of I1(k)/I0(k) = r; Fisher's piecewise
    # approximation is accurate to ~1% (largest error near the r = 0.53 switch).
    for r in [0.05, 0.3, 0.5, 0.6, 0.8, 0.9, 0.97]:
        exact = brentq(lambda k, r=r: i1e(k) / i0e(k) - r, 1e-9, 1e4)
        assert circ_kappa(r) == pytest.approx(exact, rel=0.01)


# ---------------------------------------------------------------- tests


def test_rayleigh_matches_zar_example_27_1():
    # Zar Ex. 27.1 (tree data): z = 5.448, 0.001 < P < 0.002.
    res = rayleigh_test(TREES)
    assert res.statistic == pytest.approx(5.448, abs=5e-4)
    assert 0.001 < res.p_value < 0.002


def test_rayleigh_p_matches_exact_tail_by_simulation():
    # Independent reference: the p-value's definition, P(z* >= z) under uniformity,
    # estimated from 40000 uniform samples of n = 8 (MC error ~0.002 at p ~ 0.05).
    rng = np.random.default_rng(2)
    n = 8
    sim = rng.uniform(0, 2 * np.pi, (40000, n))
    zsim = n * np.abs(np.mean(np.exp(1j * sim), axis=1)) ** 2
    for r in [0.3, 0.5, 0.7]:
        # build a sample with resultant length r: spread symmetric pairs around 0
        half = np.arccos(r)
        a = np.array([half, -half] * (n // 2))
        z = rayleigh_test(a).statistic
        assert resultant_length(a) == pytest.approx(r)
        assert rayleigh_test(a).p_value == pytest.approx(np.mean(zsim >= z), abs=0.01)


def test_rayleigh_false_positive_rate_nominal_under_uniformity():
    rng = np.random.default_rng(3)
    n_sim = 2000
    p = np.array([rayleigh_test(a).p_value for a in rng.uniform(-np.pi, np.pi, (n_sim, 12))])
    hits = int(np.sum(p < 0.05))
    assert _lower(n_sim) <= hits <= _upper(n_sim)


def test_v_test_matches_zar_example_27_2():
    # Zar Ex. 27.2: V = 9.498, u = 4.248, P < 0.0005.
    res = v_test(HOMING, deg(90))
    assert res.statistic == pytest.approx(9.498, abs=5e-4)
    # (the book derives u from the rounded V = 9.498, hence 1e-3)
    assert res.extra["u"] == pytest.approx(4.248, abs=1e-3)
    assert res.p_value < 0.0005


def test_v_test_false_positive_rate_and_power():
    rng = np.random.default_rng(4)
    n_sim = 1000
    null = [v_test(a, 1.0).p_value for a in rng.uniform(-np.pi, np.pi, (n_sim, 20))]
    hits = int(np.sum(np.array(null) < 0.05))
    assert _lower(n_sim) <= hits <= _upper(n_sim)
    # power: von Mises kappa = 1 around mu, n = 20. E[u] = sqrt(2n) A1(1) = 2.85, so
    # the power is about P(N(2.85, ~0.9) > 1.645) ~ 0.9 (measured 0.92 over 1000
    # datasets); we state >= 0.8 (300 datasets here, binomial SD 0.016).
    alt = [v_test(a, 1.0).p_value for a in rng.vonmises(1.0, 1.0, (300, 20))]
    assert np.mean(np.array(alt) < 0.05) >= 0.8


def test_watson_williams_matches_zar_examples_27_10_and_27_11():
    # Zar Ex. 27.10 (two samples): F = 1.61, P ~ 0.22 (0.10 < P < 0.25 in the book's table).
    s1 = deg([94, 65, 45, 52, 38, 47, 73, 82, 90, 40, 87])
    s2 = deg([77, 70, 61, 45, 50, 35, 48, 65, 36])
    res = watson_williams_test(s1, s2)
    assert res.statistic == pytest.approx(1.61, abs=0.005)
    assert res.p_value == pytest.approx(0.22, abs=0.005)
    # Zar Ex. 27.11 (three samples): F = 1.86, P ~ 0.19.
    g = [
        deg([135, 145, 125, 140, 165, 170]),
        deg([150, 130, 175, 190, 180, 220]),
        deg([140, 165, 185, 180, 125, 175, 140]),
    ]
    res3 = watson_williams_test(g)
    assert res3.statistic == pytest.approx(1.86, abs=0.005)
    assert res3.p_value == pytest.approx(0.19, abs=0.005)
    assert res3.n == 19 and res3.extra["reliable"]


def test_watson_williams_and_permutation_hold_nominal_rate_and_find_shift():
    rng = np.random.default_rng(5)
    n_sim = 300
    p_ww, p_perm = [], []
    for _ in range(n_sim):
        a, b = rng.vonmises(0.5, 4.0, 10), rng.vonmises(0.5, 4.0, 10)
        p_ww.append(watson_williams_test(a, b).p_value)
        p_perm.append(watson_williams_permutation(a, b, n_permutations=199, seed=rng).p_value)
    for p in (p_ww, p_perm):
        assert int(np.sum(np.array(p) < 0.05)) <= _upper(n_sim)
    # power: a 45 deg shift at kappa = 4, n = 10 + 10. The difference of means has
    # SD ~ sqrt(2 / (n kappa)) ~ 0.22 rad, so 0.785 rad is ~3.5 SD. Measured over 300
    # datasets: 0.90 (F test), 0.87 (permutation); we state >= 0.75 (100 datasets here,
    # binomial SD of the estimate 0.035).
    alt_ww, alt_perm = [], []
    for _ in range(100):
        a, b = rng.vonmises(0.0, 4.0, 10), rng.vonmises(np.pi / 4, 4.0, 10)
        alt_ww.append(watson_williams_test(a, b).p_value)
        alt_perm.append(watson_williams_permutation(a, b, n_permutations=199, seed=rng).p_value)
    assert np.mean(np.array(alt_ww) < 0.05) >= 0.75
    assert np.mean(np.array(alt_perm) < 0.05) >= 0.75


def test_watson_williams_permutation_agrees_with_parametric_on_zar_data():
    g = [
        deg([135, 145, 125, 140, 165, 170]),
        deg([150, 130, 175, 190, 180, 220]),
        deg([140, 165, 185, 180, 125, 175, 140]),
    ]
    # Both should give P ~ 0.19 (Zar Ex. 27.11); MC error of 1999 shuffles ~ 0.009.
    res = watson_williams_permutation(g, n_permutations=1999, seed=0)
    assert res.p_value == pytest.approx(0.19, abs=0.04)


def test_too_few_angles_raise_clear_error():
    with pytest.raises(WaveInputError, match="at least 3"):
        rayleigh_test([0.1, 0.2])
    with pytest.raises(WaveInputError, match="at least 2"):
        watson_williams_test([0.1], [0.2, 0.3])
    with pytest.raises(WaveInputError, match="at least 2 samples"):
        watson_williams_test([0.1, 0.2, 0.3])
    with pytest.raises(WaveInputError, match="at least 5"):
        circ_linear_corr([0.1, 0.2, np.nan, 0.4, 0.5], [1, 2, 3, 4, 5])


# ---------------------------------------------------------------- correlations


def test_circ_linear_matches_zar_example_27_21():
    # Zar Ex. 27.21: r_al = 0.9854, n = 7, 0.025 < P < 0.05 (chi-square, 2 df).
    theta = deg([190, 160, 210, 225, 220, 140, 120])
    x = np.array([48, 55, 26, 23, 22, 62, 64])
    res = circ_linear_corr(theta, x)
    assert res.statistic == pytest.approx(0.9854, abs=5e-5)
    assert 0.025 < res.p_value < 0.05


def test_circ_linear_equals_multiple_correlation_of_regression():
    # Independent route: rho_cl^2 is the R^2 of the least-squares regression of x on
    # (1, cos a, sin a) (Mardia & Jupp 2000, 11.2.1). Agreement to rounding (1e-10).
    rng = np.random.default_rng(6)
    a = rng.uniform(0, 2 * np.pi, 40)
    x = 2 * np.cos(a - 1) + rng.standard_normal(40)
    design = np.column_stack([np.ones_like(a), np.cos(a), np.sin(a)])
    fit = design @ np.linalg.lstsq(design, x, rcond=None)[0]
    r2 = 1 - np.sum((x - fit) ** 2) / np.sum((x - x.mean()) ** 2)
    assert circ_linear_corr(a, x).statistic == pytest.approx(np.sqrt(r2), abs=1e-10)


def test_circ_linear_false_positive_rate():
    rng = np.random.default_rng(7)
    n_sim = 1000
    p = [
        circ_linear_corr(a, x).p_value
        for a, x in zip(rng.uniform(0, 2 * np.pi, (n_sim, 30)), rng.standard_normal((n_sim, 30)))
    ]
    hits = int(np.sum(np.array(p) < 0.05))
    assert hits <= _upper(n_sim)


def test_fisher_lee_matches_zar_example_27_20_and_brute_force():
    # Zar Ex. 27.20: r_aa = 0.8945 for five paired directions.
    insect = deg([145, 190, 310, 210, 80])
    light = deg([120, 180, 330, 225, 55])
    res = circ_circ_corr(insect, light)
    assert res.statistic == pytest.approx(0.8945, abs=5e-5)
    assert res.extra["exact"] and res.extra["n_permutations"] == 120
    # Brute force: the double sum over pairs i < j of the definition.
    rng = np.random.default_rng(8)
    a, b = rng.uniform(0, 2 * np.pi, 12), rng.uniform(0, 2 * np.pi, 12)
    pairs = list(itertools.combinations(range(12), 2))
    num = sum(np.sin(a[i] - a[j]) * np.sin(b[i] - b[j]) for i, j in pairs)
    da = sum(np.sin(a[i] - a[j]) ** 2 for i, j in pairs)
    db = sum(np.sin(b[i] - b[j]) ** 2 for i, j in pairs)
    assert circ_circ_corr(a, b).statistic == pytest.approx(num / np.sqrt(da * db), abs=1e-12)


def test_jammalamadaka_sengupta_matches_published_milwaukee_example():
    # Wind directions at 6am/noon, Milwaukee (Jammalamadaka & SenGupta 2001, Example 8.1;
    # R `circular::cor.circular(test=TRUE)`): r = 0.2704648, z = 1.214025, p = 0.2247383.
    theta = deg(
        [
            356,
            97,
            211,
            232,
            343,
            292,
            157,
            302,
            335,
            302,
            324,
            85,
            324,
            340,
            157,
            238,
            254,
            146,
            232,
            122,
            329,
        ]
    )
    psi = deg(
        [
            119,
            162,
            221,
            259,
            270,
            29,
            97,
            292,
            40,
            313,
            94,
            45,
            47,
            108,
            221,
            270,
            119,
            248,
            270,
            45,
            23,
        ]
    )
    res = circ_circ_corr(theta, psi, method="js")
    assert res.statistic == pytest.approx(0.2704648, abs=5e-7)
    assert res.extra["z"] == pytest.approx(1.214025, abs=5e-6)
    assert res.p_value == pytest.approx(0.2247383, abs=5e-7)


def test_circ_circ_null_rates_and_power():
    rng = np.random.default_rng(9)
    n_sim = 300
    a, b = rng.uniform(0, 2 * np.pi, (2, n_sim, 25))
    p_js = np.array([circ_circ_corr(x, y, "js").p_value for x, y in zip(a, b)])
    p_fl = np.array(
        [circ_circ_corr(x, y, n_permutations=199, seed=rng).p_value for x, y in zip(a, b)]
    )
    assert int(np.sum(p_js < 0.05)) <= _upper(n_sim)
    assert int(np.sum(p_fl < 0.05)) <= _upper(n_sim)
    # power: b = a + von Mises noise (kappa 4), n = 25 (r_JS ~ 0.64). Measured with
    # 400 datasets: JS 0.91, Fisher-Lee 1.00; we state >= 0.8 (100 datasets: the
    # binomial SD of the estimate is 0.03).
    a = rng.uniform(0, 2 * np.pi, (100, 25))
    b = a + rng.vonmises(0, 4.0, a.shape)
    assert np.mean([circ_circ_corr(x, y, "js").p_value < 0.05 for x, y in zip(a, b)]) >= 0.8
    assert (
        np.mean(
            [circ_circ_corr(x, y, n_permutations=199, seed=1).p_value < 0.05 for x, y in zip(a, b)]
        )
        >= 0.8
    )
