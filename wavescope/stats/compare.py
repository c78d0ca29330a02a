"""Statistics of a group comparison: one engine for wave properties and memory curves.

:func:`compare_values` is the engine: for one property given per group (one value per
recording, with the subject each recording comes from), it returns the estimate per group
(median with a BCa bootstrap interval; circular mean with a wrapped percentile interval for
angles) and, per pair of groups, a two-sided permutation test of the difference of means
(of circular means for angles), Cliff's delta and Hedges' g with bootstrap intervals (the
circular mean difference for angles), and a random-intercept mixed-effects model where a
subject contributes several recordings. :func:`compare_groups` runs it over the columns
of a property table (one row per recording), :func:`wavescope.stats.memory.compare_memory`
over memory-curve horizons and capacities, and both correct every p-value with the
Benjamini-Hochberg procedure.

The unit of replication is the subject (animal, session, model checkpoint and seed), never
a channel: a group needs :data:`MIN_N` subjects for a test. A group with enough
recordings but fewer subjects gets an estimate and an interval over its recordings, with a
message saying that the interval describes those recordings, not a population, and no
p-value. Missing values are None, never NaN.

Raw properties (speed in m/s, wavelength in mm, ...) are compared only between groups that
share their unit; dimensionless ones between every pair; properties defined on one layout
dimensionality (directions: angles on a surface, a forward fraction on a line) only between
groups of that dimensionality.

References
----------
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. J R Stat Soc B 57,
289-300.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats as _st

from wavescope.core.circular import circ_mean, wrap
from wavescope.core.properties import CIRCULAR, DIMENSIONLESS, PROPERTIES, RAW
from wavescope.core.results import Result
from wavescope.core.units import speed_scale
from wavescope.core.validate import WaveInputError
from wavescope.stats.tests import (
    bootstrap_ci,
    circ_mean_difference,
    cluster_resamples,
    effect_size,
    fdr,
    mixed_effects,
    permutation_test,
)

__all__ = [
    "DEFAULT_PROPERTIES",
    "MIN_N",
    "GroupComparison",
    "GroupEstimate",
    "Interval",
    "MixedFit",
    "PairTest",
    "ReferenceComparison",
    "Settings",
    "check_same_unit",
    "compare_groups",
    "compare_reference",
    "compare_values",
    "correct_fdr",
]

#: Fewest subjects per group for a test (and recordings for an interval): a bootstrap of
#: 2 values is degenerate, and 3 + 3 subjects give an exact two-sided minimum p of 0.1.
MIN_N = 3
#: Properties compared by default (those present in the table are used).
DEFAULT_PROPERTIES = (
    "pgd_median",
    "wave_fraction",
    "direction_concentration",
    "direction_mean",
    "forward_fraction",
    "wavelength_per_extent",
    "speed_sites_per_cycle",
    "speed_median",
    "wavelength_median",
    "frequency_median",
)


@dataclass
class Interval(Result):
    """An estimate with a confidence interval (None where undefined)."""

    estimate: float | None
    low: float | None
    high: float | None


@dataclass
class MixedFit(Result):
    """The group effect of a random-intercept mixed-effects model."""

    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    df: int
    n_subjects: int


@dataclass
class GroupEstimate(Result):
    """One property of one group: its estimate over the group's recordings."""

    property: str
    group: str
    unit: str
    n: int
    n_subjects: int
    statistic: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    message: str | None = None


@dataclass
class PairTest(Result):
    """One property compared between two groups.

    ``p_value`` is the one corrected: the mixed model's where subjects repeat, the
    permutation test's otherwise; None when the groups have too few subjects (see
    ``message``).
    """

    property: str
    group_a: str
    group_b: str
    unit: str
    n_a: int
    n_b: int
    subjects_a: int
    subjects_b: int
    statistic: str
    mean_a: float | None = None
    mean_b: float | None = None
    difference: float | None = None
    p_value: float | None = None
    p_permutation: float | None = None
    p_fdr: float | None = None
    significant: bool | None = None
    test: str | None = None
    min_p: float | None = None
    cliffs_delta: Interval | None = None
    hedges_g: Interval | None = None
    circ_mean_difference: Interval | None = None
    mixed: MixedFit | None = None
    message: str | None = None


@dataclass
class Settings(Result):
    """Settings of a comparison (also written to the JSON)."""

    n_permutations: int = 9999
    n_boot: int = 2000
    level: float = 0.95
    alpha: float = 0.05
    seed: int = 0
    min_n: int = MIN_N
    fdr: str = "Benjamini-Hochberg across every property x pair test"


@dataclass
class PropertyInfo(Result):
    """What a compared property is: its kind and its unit in each group."""

    kind: str
    units: dict[str, str]


@dataclass
class GroupComparison(Result):
    """The result of :func:`compare_groups`."""

    groups: list[str]
    n_recordings: dict[str, int]
    n_subjects: dict[str, int]
    properties: dict[str, PropertyInfo]
    summaries: list[GroupEstimate]
    tests: list[PairTest]
    messages: list[str]
    settings: Settings

    def estimate(self, prop: str, group: str) -> GroupEstimate | None:
        """The estimate of ``prop`` in ``group`` (None when it was not tabulated)."""
        return next((s for s in self.summaries if s.property == prop and s.group == group), None)


# ---------------------------------------------------------------- helpers


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _f(v):
    """A float for JSON (None for NaN/inf)."""
    v = _num(v)
    return v if np.isfinite(v) else None


def _interval(e) -> Interval | None:
    iv = Interval(_f(e.estimate), _f(e.low), _f(e.high))
    return iv if iv.estimate is not None else None


def _cols(table):
    if hasattr(table, "columns"):
        return list(table.columns), {c: table[c].to_numpy() for c in table.columns}
    if isinstance(table, dict):
        return list(table), {c: np.asarray(v) for c, v in table.items()}
    rows = list(table)
    names = sorted({k for r in rows for k in r})
    return names, {c: np.asarray([r.get(c) for r in rows], dtype=object) for c in names}


def _circ_ci(x, level, n_boot, rng):
    est = float(circ_mean(x))
    boot = circ_mean(x[rng.integers(0, x.size, (n_boot, x.size))], axis=1)
    dev = wrap(boot - est)
    lo, hi = np.quantile(dev[np.isfinite(dev)], [(1 - level) / 2, (1 + level) / 2])
    return est, est + float(lo), est + float(hi)


def _cluster_ci(x, subjects, circular: bool, level, n_boot, rng):
    """Estimate (circular mean or median) with a percentile interval over resamples of
    whole subjects (repeated recordings of a subject stay together)."""
    est = float(circ_mean(x) if circular else np.median(x))
    idx = cluster_resamples(subjects, n_boot, rng)
    boot = np.array([circ_mean(x[i]) if circular else np.median(x[i]) for i in idx])
    q = [(1 - level) / 2, (1 + level) / 2]
    if circular:
        dev = wrap(boot - est)
        lo, hi = np.quantile(dev[np.isfinite(dev)], q)
        return est, est + float(lo), est + float(hi)
    lo, hi = np.quantile(boot, q)
    return est, float(lo), float(hi)


def _circ_diff(x, y, axis=-1):
    return wrap(circ_mean(x, axis=axis) - circ_mean(y, axis=axis))


def _n_subjects(subj: np.ndarray | None, n: int) -> int:
    return n if subj is None else len(set(subj.tolist()))


# ---------------------------------------------------------------- the engine


def compare_values(
    prop: str,
    values: dict[str, np.ndarray],
    subjects: dict[str, np.ndarray] | None = None,
    *,
    units: dict[str, str] | None = None,
    circular: bool = False,
    pairs: list[tuple[str, str]] | None = None,
    settings: Settings | None = None,
    rng: np.random.Generator | None = None,
    messages: list[str] | None = None,
) -> tuple[list[GroupEstimate], list[PairTest]]:
    """Estimates per group and tests per pair of groups for one property.

    Parameters
    ----------
    prop : str
        The property's name (for results and messages).
    values : dict
        ``{group: values}``, one value per recording (NaN: not measured, dropped).
    subjects : dict, optional
        ``{group: subject per recording}`` (default: every recording its own subject).
    units : dict, optional
        ``{group: unit}`` (default ``"1"``).
    circular : bool
        The values are angles in radians.
    pairs : list of (str, str), optional
        Pairs to test (default: every pair of groups).
    settings : Settings, optional
    rng : numpy Generator, optional
        Drawn from for every resampling (default: seeded from ``settings.seed``).
    messages : list, optional
        Notes are appended here (each once).

    Returns
    -------
    estimates : list of GroupEstimate
    tests : list of PairTest
        ``p_fdr`` and ``significant`` are left for :func:`correct_fdr`.
    """
    st = settings or Settings()
    rng = rng if rng is not None else np.random.default_rng(st.seed)
    messages = messages if messages is not None else []
    units = units or {}
    clean, subj = {}, {}
    for g, v in values.items():
        y = np.array([_num(a) for a in np.atleast_1d(v)], float)
        ok = np.isfinite(y)
        clean[g] = y[ok]
        s = None if subjects is None or g not in subjects else np.asarray(subjects[g])[ok]
        subj[g] = None if s is None else np.asarray([str(a) for a in s])

    def note(m):
        if m not in messages:
            messages.append(m)

    estimates = []
    for g, x in clean.items():
        n_s = _n_subjects(subj[g], x.size)
        e = GroupEstimate(
            prop, g, units.get(g, "1"), int(x.size), n_s,
            "circular mean" if circular else "median",
        )  # fmt: skip
        if x.size < MIN_N:
            e.message = (
                f"group {g!r} has {x.size} usable recording(s) for {prop!r}; an interval "
                f"or a test needs at least {MIN_N}: add recordings, subjects or seeds."
            )
            note(e.message)
        else:
            if subj[g] is not None and MIN_N <= n_s < x.size:  # resample whole subjects
                est, lo, hi = _cluster_ci(x, subj[g], circular, st.level, st.n_boot, rng)
            elif circular:
                est, lo, hi = _circ_ci(x, st.level, st.n_boot, rng)
            else:
                ci = bootstrap_ci(x, np.median, n_boot=st.n_boot, level=st.level, seed=rng)
                est, lo, hi = ci.estimate, ci.low, ci.high
            e.estimate, e.low, e.high = _f(est), _f(lo), _f(hi)
            if n_s < MIN_N:
                e.message = (
                    f"group {g!r}: {x.size} recordings of {n_s} subject(s); the interval "
                    "describes these recordings (repeated measures of the same "
                    "subject), not a population of subjects."
                )
                note(e.message)
        estimates.append(e)

    tests = []
    for a, b in pairs if pairs is not None else list(combinations(clean, 2)):
        tests.append(
            _pair_test(prop, circular, units.get(a, "1"), a, b, clean, subj, st, rng, note)
        )
    return estimates, tests


def _pair_test(prop, circular, unit, a, b, clean, subj, st: Settings, rng, note) -> PairTest:
    x1, x2 = clean[a], clean[b]
    s1, s2 = _n_subjects(subj[a], x1.size), _n_subjects(subj[b], x2.size)
    t = PairTest(
        prop, a, b, unit, int(x1.size), int(x2.size), s1, s2,
        "circular mean difference" if circular else "difference of means",
    )  # fmt: skip
    if x1.size:
        t.mean_a = _f(circ_mean(x1) if circular else np.mean(x1))
    if x2.size:
        t.mean_b = _f(circ_mean(x2) if circular else np.mean(x2))
    few = [(g, n) for g, n in ((a, s1), (b, s2)) if n < MIN_N]
    if few:
        g, n = few[0]
        t.message = (
            f"{a} vs {b}: group {g!r} has {n} subject(s) (recordings of one model, animal "
            f"or session are repeated measures); a test needs at least {MIN_N} subjects "
            "per group, so only estimates are given."
        )
        note(t.message)
        return t
    sa, sb = subj[a], subj[b]
    repeated = sa is not None and sb is not None and (s1 < x1.size or s2 < x2.size)
    # recordings of one subject are repeated measures: relabel whole subjects
    by_subject = {"subjects_x": sa, "subjects_y": sb} if repeated else {}
    perm = permutation_test(
        x1,
        x2,
        _circ_diff if circular else "mean",
        n_permutations=st.n_permutations,
        seed=rng,
        **by_subject,
    )
    t.difference = _f(perm.statistic)
    t.p_permutation = t.p_value = float(perm.p_value)
    t.test = (
        "permutation" + (" of subjects" if repeated else "") + (" (exact)" if perm.exact else "")
    )
    # a two-sided exact test of two equal-sized groups cannot go below 2 / C(n, n_a)
    n1, n2 = (s1, s2) if repeated else (x1.size, x2.size)
    t.min_p = float(perm.min_p * (2 if perm.exact and n1 == n2 else 1))
    if t.min_p > st.alpha:
        what = "subjects" if repeated else "recordings"
        t.message = (
            f"{a} vs {b}: with {n1} and {n2} {what} the smallest possible "
            f"p-value is {t.min_p:.3g} > alpha {st.alpha:g}; this test cannot reject (at "
            "least 4 subjects per group are needed, 5 or more to survive an FDR correction)."
        )
        note(t.message)
    seed = int(rng.integers(2**31))
    if circular:
        by_subject_ab = {"subjects_a": sa, "subjects_b": sb} if repeated else {}
        t.circ_mean_difference = _interval(
            circ_mean_difference(
                x1, x2, level=st.level, n_boot=st.n_boot, seed=seed, **by_subject_ab
            )
        )
    else:
        for kind in ("cliffs_delta", "hedges_g"):
            try:
                # a resample or leave-one-out sample without spread has an infinite g; the
                # bootstrap drops those (and falls back to percentiles), quietly
                with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    e = effect_size(x1, x2, kind, level=st.level, n_boot=st.n_boot, seed=seed)
                setattr(t, kind, _interval(e))
            except WaveInputError:
                setattr(t, kind, None)
            if getattr(t, kind) is None:
                note(f"{kind} of {prop!r} {a} vs {b} is undefined (no spread in the values).")
    if repeated and not circular:
        try:
            m = mixed_effects(
                {
                    "y": np.concatenate([x1, x2]),
                    "g": np.array([a] * x1.size + [b] * x2.size),
                    "s": np.concatenate([sa, sb]),
                },
                "y",
                "g",
                "s",
                reference=b,
                level=st.level,
            )
            eff = m.effects[a]
            t.mixed = MixedFit(
                _f(eff["estimate"]), _f(eff["low"]), _f(eff["high"]), _f(eff["p_value"]),
                int(m.df), int(m.n_subjects),
            )  # fmt: skip
            if t.mixed.p_value is not None:
                t.p_value = t.mixed.p_value
                t.test = "mixed effects (random intercept per subject)"
        except (ValueError, np.linalg.LinAlgError) as exc:  # WaveInputError included
            note(
                f"mixed model of {prop!r} {a} vs {b} not fitted ({exc}); its p-value is the "
                "permutation test's, relabelling whole subjects."
            )
    return t


def correct_fdr(tests: list[PairTest], alpha: float) -> None:
    """Benjamini-Hochberg over the tests that have a p-value (sets ``p_fdr``, ``significant``)."""
    usable = [t for t in tests if t.p_value is not None]
    if usable:
        _, q = fdr([t.p_value for t in usable], alpha=alpha, method="bh")
        for t, qv in zip(usable, q):
            t.p_fdr = float(qv)
            t.significant = bool(qv <= alpha)


# ---------------------------------------------------------------- property tables


def compare_groups(
    table,
    properties=None,
    group_col: str = "group",
    subject_col: str | None = None,
    *,
    n_permutations: int = 9999,
    n_boot: int = 2000,
    level: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> GroupComparison:
    """Compare wave properties between groups of recordings.

    Parameters
    ----------
    table : pandas.DataFrame, dict of columns or list of row dicts
        One row per recording, e.g. from :func:`wavescope.pipelines.properties.wave_properties`;
        each property ``X`` may have a unit column ``X_unit``; an ``n_dims`` column
        (1 or 2) restricts layout-specific properties (directions) to groups of that
        dimensionality.
    properties : sequence of str, optional
        Columns to compare. Default: those of :data:`DEFAULT_PROPERTIES` in the table.
        Raw properties are compared only between groups in the same unit; naming one
        explicitly when no two groups share its unit raises :class:`WaveInputError`.
    group_col : str
        Column with the group label.
    subject_col : str, optional
        Column naming the subject (animal, session, model checkpoint and seed). Tests
        need :data:`MIN_N` subjects per group; when a subject has several recordings,
        each pair of groups is also fitted with the random-intercept model
        ``property ~ group + (1 | subject)``
        (:func:`~wavescope.stats.tests.mixed_effects`) and its p-value (not the
        permutation test's, whose exchangeability fails) is the one corrected. Without
        it, every recording counts as its own subject.
    n_permutations, n_boot : int
        Random relabellings (exact enumeration when there are fewer splits) and
        bootstrap resamples.
    level : float
        Confidence level of every interval.
    alpha : float
        False-discovery rate of the Benjamini-Hochberg correction.
    seed : int

    Returns
    -------
    GroupComparison

    Raises
    ------
    WaveInputError
        When the table lacks a column, or for a raw property named explicitly across units.
    """
    names, cols = _cols(table)
    if group_col not in cols:
        raise WaveInputError(f"the table has no group column {group_col!r}; columns: {names}.")
    g_all = np.asarray([str(g) for g in cols[group_col]])
    groups = list(dict.fromkeys(g_all.tolist()))
    explicit = properties is not None
    if properties is None:
        properties = [p for p in DEFAULT_PROPERTIES if p in cols]
    else:
        properties = [properties] if isinstance(properties, str) else list(properties)
        missing = [p for p in properties if p not in cols]
        if missing:
            raise WaveInputError(f"properties {missing} are not in the table; columns: {names}.")
    if not properties:
        raise WaveInputError("no properties to compare: the table has none of the known columns.")
    subj_all = None
    if subject_col is not None:
        if subject_col not in cols:
            raise WaveInputError(f"the table has no subject column {subject_col!r}.")
        subj_all = np.asarray([str(s) for s in cols[subject_col]])
    dims = {}
    if "n_dims" in cols:
        for g in groups:
            dims[g] = sorted({int(_num(d)) for d in cols["n_dims"][g_all == g]})
    st = Settings(int(n_permutations), int(n_boot), float(level), float(alpha), int(seed))
    rng = np.random.default_rng(seed)
    messages: list[str] = []
    if len(groups) == 1:
        messages.append(f"only one group ({groups[0]!r}): estimates only, no pairwise tests.")
    summaries, tests, props_info = [], [], {}
    for prop in properties:
        circular = prop in CIRCULAR
        kind = "circular" if circular else ("raw" if prop in RAW else "dimensionless")
        info = PROPERTIES.get(prop)
        present = groups
        if info is not None and dims:
            present = [g for g in groups if len(dims[g]) == 1 and dims[g][0] in info.dims]
            left = [g for g in groups if g not in present]
            if left:
                layout = " or ".join("a line" if d == 1 else "a surface" for d in info.dims)
                messages.append(
                    f"{prop!r} is defined on {layout} only: not tabulated for "
                    f"{', '.join(left)} (other layouts)."
                )
            if not present:
                continue
        gunit = {}
        for g in present:
            rows = g_all == g
            col = prop + "_unit"
            units = (
                sorted({str(u) for u in np.asarray(cols[col])[rows]})
                if col in cols
                else [DIMENSIONLESS.get(prop, "?")]
            )
            if len(units) > 1:
                raise WaveInputError(
                    f"group {g!r} has {prop!r} in several units {units}: recordings in one "
                    "group must share their units (split the group, or compare only "
                    "dimensionless properties)."
                )
            gunit[g] = units[0]
        pairs = list(combinations(present, 2))
        if kind == "raw":
            shared = [(a, b) for a, b in pairs if gunit[a] == gunit[b]]
            if explicit and len(set(gunit.values())) > 1 and not shared:
                raise WaveInputError(
                    f"{prop!r} is in different units across groups {gunit}: raw properties "
                    "cannot be compared across units; compare a dimensionless property "
                    f"instead ({', '.join(DIMENSIONLESS)})."
                )
            skipped = [f"{a} vs {b}" for a, b in pairs if gunit[a] != gunit[b]]
            if skipped:
                messages.append(
                    f"{prop!r} not compared for {', '.join(skipped)}: different units "
                    "(raw properties are compared only among groups sharing a unit)."
                )
            pairs = shared
        values = {g: cols[prop][g_all == g] for g in present}
        subjects = None if subj_all is None else {g: subj_all[g_all == g] for g in present}
        est, tst = compare_values(
            prop, values, subjects, units=gunit, circular=circular, pairs=pairs,
            settings=st, rng=rng, messages=messages,
        )  # fmt: skip
        summaries += est
        tests += tst
        props_info[prop] = PropertyInfo(kind, {str(k): str(v) for k, v in gunit.items()})
    correct_fdr(tests, alpha)
    counts = {g: int(np.sum(g_all == g)) for g in groups}
    n_subj = {
        g: counts[g] if subj_all is None else len(set(subj_all[g_all == g].tolist()))
        for g in groups
    }
    return GroupComparison(groups, counts, n_subj, props_info, summaries, tests, messages, st)


def check_same_unit(table, prop: str) -> str:
    """Return the unit of ``prop`` in a property table, raising if rows disagree.

    Use before comparing a raw property across groups.
    """
    col = prop + "_unit"
    if col not in getattr(table, "columns", table):
        raise WaveInputError(f"the table has no unit column {col!r} for property {prop!r}.")
    units = sorted({str(u) for u in np.asarray(table[col])})
    if len(units) != 1:
        raise WaveInputError(
            f"{prop!r} comes in several units {units}: compare a dimensionless property "
            "instead (see wavescope.core.properties.DIMENSIONLESS)."
        )
    return units[0]


# ---------------------------------------------------------------- reference distribution


@dataclass
class ReferenceComparison(Result):
    """One group's per-recording speeds against a reference speed density."""

    group: str
    unit: str
    n: int
    group_median: float | None = None
    reference_percentile: float | None = None
    ks_statistic: float | None = None
    ks_p: float | None = None
    sign_p: float | None = None
    n_above: int | None = None
    message: str | None = None
    extra: dict = field(default_factory=dict)


def compare_reference(speeds, unit: str, reference, *, group: str = "") -> ReferenceComparison:
    """Compare one group's per-recording speeds with a reference speed density.

    Two tests: a one-sample Kolmogorov-Smirnov test of the speeds against the reference
    distribution, and a sign (binomial) test of whether the group's median differs from
    the reference median. Plus the reference percentile of the group's median.

    Parameters
    ----------
    speeds : array_like (n,)
        One speed per recording (e.g. ``speed_median``), in ``unit``.
    unit : str
        A physical speed unit (``"m/s"``, ``"mm/ms"``, ...). Groups in sites/step have no
        physical speed and raise :class:`WaveInputError`.
    reference : SpeedDensity
        A density of speeds in m/s with ``cdf`` and ``quantile``
        (:func:`wavescope.datasets.read_davis2021_speeds`).

    Returns
    -------
    ReferenceComparison
    """
    k = speed_scale(unit, "m/s")
    if k is None:
        raise WaveInputError(
            f"group {group!r} has speeds in {unit}: only physical speeds (m/s) can be compared "
            "with a cortical reference distribution."
        )
    x = np.asarray(speeds, float)
    x = x[np.isfinite(x)] * k
    out = ReferenceComparison(group=group, unit="m/s", n=int(x.size))
    if x.size < MIN_N:
        out.group_median = _f(np.median(x)) if x.size else None
        out.message = (
            f"group {group!r} has {x.size} usable recording(s); a comparison with the "
            f"reference needs at least {MIN_N}."
        )
        return out
    ks = _st.kstest(x, reference.cdf)
    med = float(reference.quantile(0.5))
    above, below = int(np.sum(x > med)), int(np.sum(x < med))
    out.group_median = float(np.median(x))
    out.reference_percentile = float(100 * reference.cdf(np.median(x)))
    out.ks_statistic = float(ks.statistic)
    out.ks_p = float(ks.pvalue)
    out.sign_p = float(_st.binomtest(above, above + below, 0.5).pvalue) if above + below else 1.0
    out.n_above = above
    return out
