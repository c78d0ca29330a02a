"""Group comparison statistics: known differences found, null rate nominal, bad input."""

import numpy as np
import pytest
from paths import SHARED_DATA

from wavescope.core.circular import wrap
from wavescope.core.validate import WaveInputError
from wavescope.datasets.davis2021 import read_davis2021_speeds as load_reference_speeds
from wavescope.stats.compare import MIN_N
from wavescope.stats.compare import compare_groups as _compare_groups
from wavescope.stats.compare import compare_reference as _compare_reference


def compare_groups(*args, **kw) -> dict:
    return _compare_groups(*args, **kw).to_json()


def compare_reference(*args, **kw) -> dict:
    return _compare_reference(*args, **kw).to_json()


def shared_file(*parts):

    path = SHARED_DATA
    path = path.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (a plain clone has no ../shared)")
    return path


def _table(samples: dict, prop="pgd_median", unit="1", extra=None):
    rows = []
    for g, vals in samples.items():
        for i, v in enumerate(vals):
            r = {"group": g, "subject": f"{g}{i}", prop: float(v), prop + "_unit": unit}
            rows.append(r | (extra or {}))
    return rows


def test_known_difference_is_significant_with_effect_sizes():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.05, 8), rng.normal(0.7, 0.05, 8)  # 4 SD apart
    res = compare_groups(_table({"a": a, "b": b}), ["pgd_median"], n_boot=500)
    (t,) = res["tests"]
    # 8 vs 8 exact two-sided permutation: 12870 splits > 9999, so random relabellings;
    # a 4-SD shift separates the groups completely: p at its floor 1/10000, far below 0.05
    assert t["p_value"] < 1e-3 and t["significant"]
    assert t["difference"] == pytest.approx(a.mean() - b.mean())
    assert t["cliffs_delta"]["estimate"] == -1.0  # every a below every b
    assert t["hedges_g"]["estimate"] < -2 and t["hedges_g"]["high"] < 0
    s = {x["group"]: x for x in res["summaries"]}
    assert s["a"]["low"] <= np.median(a) <= s["a"]["high"]


def test_null_rate_is_nominal():
    # 150 comparisons of identically distributed groups (6 vs 6, exact test: 924 splits).
    # Under H0 P(p <= 0.05) <= 0.05; binomial(150, 0.05) has SD 0.018, so the rate must stay
    # below 0.05 + 3 SD = 0.103.
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(150):
        rows = _table({"a": rng.normal(size=6), "b": rng.normal(size=6)})
        res = compare_groups(rows, ["pgd_median"], n_boot=50, n_permutations=999)
        hits += res["tests"][0]["p_value"] <= 0.05
    assert hits / 150 <= 0.103


def test_fdr_across_properties_and_pairs():
    rng = np.random.default_rng(3)
    rows = []
    for g, shift in (("a", 0.0), ("b", 0.0), ("c", 3.0)):
        for i in range(6):
            rows.append(
                {
                    "group": g,
                    "subject": f"{g}{i}",
                    "pgd_median": rng.normal(shift),
                    "wave_fraction": rng.normal(),
                    "pgd_median_unit": "1",
                    "wave_fraction_unit": "1",
                }
            )
    res = compare_groups(rows, ["pgd_median", "wave_fraction"], n_boot=100)
    p = np.array([t["p_value"] for t in res["tests"]])
    q = np.array([t["p_fdr"] for t in res["tests"]])
    # BH: q_(i) = min_{j >= i} p_(j) m / j, so q >= p, and it reproduces statsmodels
    from statsmodels.stats.multitest import multipletests

    assert np.allclose(q, multipletests(p, method="fdr_bh")[1]) and np.all(q >= p - 1e-15)
    sig = {(t["property"], t["group_a"], t["group_b"]) for t in res["tests"] if t["significant"]}
    assert ("pgd_median", "a", "c") in sig and ("pgd_median", "b", "c") in sig
    assert ("pgd_median", "a", "b") not in sig


def test_direction_difference_uses_circular_statistics():
    rng = np.random.default_rng(0)
    # means 3.0 and -3.0 rad are only 0.28 rad apart across the cut
    a = wrap(3.0 + rng.normal(0, 0.02, 6))
    b = wrap(-3.0 + rng.normal(0, 0.02, 6))
    res = compare_groups(_table({"a": a, "b": b}, "direction_mean", "rad"), n_boot=200)
    (t,) = res["tests"]
    assert t["difference"] == pytest.approx(wrap(6.0 - 2 * np.pi), abs=0.03)
    assert t["circ_mean_difference"]["estimate"] == pytest.approx(t["difference"])
    assert t["cliffs_delta"] is None and t["p_value"] < 0.05  # 6 vs 6 exact: floor 2/924


def test_too_few_gives_messages_not_nan():
    rng = np.random.default_rng(0)
    res = compare_groups(
        _table({"a": rng.normal(size=5), "b": rng.normal(size=5), "c": [0.1, 0.2]}), n_boot=100
    )
    c_tests = [t for t in res["tests"] if "c" in (t["group_a"], t["group_b"])]
    assert c_tests and all(t["p_value"] is None and "at least 3" in t["message"] for t in c_tests)
    assert any("'c' has 2 usable" in m for m in res["messages"])
    ab = [t for t in res["tests"] if t["group_b"] == "b"][0]
    assert 0 < ab["p_value"] <= 1 and ab["p_fdr"] is not None
    # every group too small: no estimate, no test, never a NaN, and the messages say why
    res = compare_groups(_table({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    assert all(x["estimate"] is None for x in res["summaries"])
    (t,) = res["tests"]
    assert t["p_value"] is None and f"at least {MIN_N} subjects" in t["message"]


def test_channels_of_one_subject_get_estimates_but_no_test():
    # 8 channels of one model against 8 of another: repeated measures of two subjects,
    # so an interval describes them but no p-value is given (the unit of replication)
    rng = np.random.default_rng(2)
    rows = _table({"m1": rng.normal(0.5, 0.05, 8), "m2": rng.normal(0.9, 0.05, 8)})
    for r in rows:
        r["subject"] = r["group"] + "-seed0"
    res = compare_groups(rows, ["pgd_median"], subject_col="subject", n_boot=200)
    (t,) = res["tests"]
    assert t["p_value"] is None and "1 subject(s)" in t["message"]
    for x in res["summaries"]:
        assert x["estimate"] is not None and x["n"] == 8 and x["n_subjects"] == 1
        assert "not a population" in x["message"]
    assert res["n_subjects"] == {"m1": 1, "m2": 1}


def test_small_groups_warn_that_the_test_cannot_reject():
    res = compare_groups(_table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}), n_boot=100)
    (t,) = res["tests"]
    # 3 vs 3: 20 splits, the two-sided floor is 2/20 = 0.1 > 0.05
    assert t["min_p"] == pytest.approx(0.1) and "cannot reject" in t["message"]


def test_raw_property_across_units_is_refused_and_skipped_by_default():
    rows = _table({"cortex": [0.2, 0.3, 0.25]}, "speed_median", "m/s") + _table(
        {"model": [1.0, 1.1, 0.9]}, "speed_median", "sites/step"
    )
    with pytest.raises(WaveInputError, match="cannot be compared across units"):
        compare_groups(rows, ["speed_median"])
    res = compare_groups(rows, n_boot=50)  # default: raw pair skipped with a note
    assert res["tests"] == [] and any("different units" in m for m in res["messages"])


def test_mixed_effects_when_subjects_repeat():
    rng = np.random.default_rng(2)
    rows = []
    for g, shift in (("a", 0.0), ("b", 2.0)):
        for s in range(4):
            base = rng.normal(0, 0.3)
            for _ in range(3):
                rows.append(
                    {
                        "group": g,
                        "subject": f"{g}{s}",
                        "pgd_median": shift + base + rng.normal(0, 0.1),
                        "pgd_median_unit": "1",
                    }
                )
    res = compare_groups(rows, ["pgd_median"], subject_col="subject", n_boot=100)
    (t,) = res["tests"]
    assert t["mixed"] is not None and t["test"].startswith("mixed")
    assert t["p_value"] == t["mixed"]["p_value"] < 0.01
    assert t["mixed"]["low"] < -2 + 0.8 and t["mixed"]["high"] > -2 - 0.8  # covers the truth
    assert t["mixed"]["df"] == 6  # 8 subjects - 2 groups


def test_davis_reference_loads_and_median_group_is_not_different():
    ref = load_reference_speeds(shared_file("davis2021_speeds", "wolfie-speed_density.mat"))
    s = ref.summary()
    # SOURCE.md of the data: median 0.29 m/s, IQR 0.17-0.48 m/s (2-digit rounding)
    assert s["median"] == pytest.approx(0.29, abs=0.006)
    assert s["q25"] == pytest.approx(0.17, abs=0.006) and s["q75"] == pytest.approx(0.48, abs=0.006)
    assert ref.cdf(2.0) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    at_median = s["median"] * (1 + rng.normal(0, 0.02, 5))
    r = compare_reference(at_median, "m/s", ref, group="g")
    assert r["ks_p"] > 0.05 and r["sign_p"] > 0.05
    assert r["reference_percentile"] == pytest.approx(50, abs=3)
    fast = 3 * s["q75"] * (1 + rng.normal(0, 0.02, 5))  # far above the reference's IQR
    r = compare_reference(fast, "m/s", ref, group="fast")
    assert r["ks_p"] < 0.01
    # mm/ms is m/s: same result
    assert compare_reference(fast, "mm/ms", ref)["ks_p"] == pytest.approx(r["ks_p"])
    with pytest.raises(WaveInputError, match="physical"):
        compare_reference([1.0, 2.0, 3.0], "sites/step", ref)
