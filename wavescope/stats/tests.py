"""Group comparisons of wave properties: permutation tests, bootstrap intervals, effect
sizes, mixed-effects models and false-discovery-rate control.

Inputs are samples of one property (one value per recording, seed or epoch). NaNs
are dropped first (a recording without waves has no wave speed); a group left with too
few values raises a :class:`~wavescope.core.validate.WaveInputError` that says how many
are needed, so that no test ever returns a NaN p-value.

References
----------
Good PI (2005). Permutation, Parametric and Bootstrap Tests of Hypotheses. Springer.
Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge
University Press (resampling hierarchical data).
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap, ch. 13-14 (percentile
and BCa intervals). Chapman & Hall.
Cliff N (1993). Dominance statistics: ordinal analyses to answer ordinal questions.
Psychol Bull 114, 494-509.
Hedges LV (1981). Distribution theory for Glass's estimator of effect size. J Educ Stat
6, 107-128.
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. J R Stat Soc B 57,
289-300.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats as _st

from wavescope.core.circular import circ_mean, wrap
from wavescope.core.validate import WaveInputError, check_option

__all__ = [
    "BootstrapCI",
    "Effect",
    "MixedEffectsResult",
    "PermutationResult",
    "bootstrap_ci",
    "circ_mean_difference",
    "cliffs_delta",
    "cluster_resamples",
    "cohens_d",
    "effect_size",
    "fdr",
    "hedges_g",
    "mixed_effects",
    "permutation_test",
]


def _sample(name: str, x, min_n: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    n_all = a.size
    a = a[np.isfinite(a)]
    if a.size < min_n:
        dropped = f" ({n_all - a.size} NaN/inf dropped)" if n_all > a.size else ""
        raise WaveInputError(
            f"{name} has {a.size} usable value(s){dropped}; {what} needs at least {min_n} "
            "per group. Add recordings or seeds, or leave this property out."
        )
    return a


# ---------------------------------------------------------------- permutation tests


@dataclass(frozen=True)
class PermutationResult:
    """Two-sample permutation test.

    Attributes
    ----------
    statistic : float
        ``stat(x, y)`` on the observed groups (e.g. ``mean(x) - mean(y)``).
    p_value : float
        In (0, 1]; never smaller than ``min_p``.
    n_permutations : int
        Relabellings used (all of them when ``exact``).
    exact : bool
        Every relabelling was enumerated.
    min_p : float
        A lower bound on the p-values this design can give (``1 / (n_permutations + 1)``
        or, when exact, ``1 / C(n_x + n_y, n_x)``; two-sided tests of equal groups
        cannot go below twice that); a test with ``min_p > alpha`` cannot reject.
    alternative : str
    """

    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    min_p: float
    alternative: str


_STATS: dict[str, Callable] = {
    "mean": lambda x, y: np.mean(x, axis=-1) - np.mean(y, axis=-1),
    "median": lambda x, y: np.median(x, axis=-1) - np.median(y, axis=-1),
}


def permutation_test(
    x,
    y,
    statistic: str | Callable = "mean",
    *,
    n_permutations: int = 9999,
    alternative: str = "two-sided",
    seed=0,
    min_n: int = 2,
    subjects_x=None,
    subjects_y=None,
) -> PermutationResult:
    """Two-sample permutation test of a difference between groups.

    Parameters
    ----------
    x, y : array_like
        The two samples (one value per recording; any unit, the same for both).
    statistic : {"mean", "median"} or callable
        ``"mean"``/``"median"``: difference of means/medians ``x - y``. A callable
        ``f(x, y) -> float`` may be any statistic; if it accepts 2-D arrays and reduces
        along ``axis=-1`` (pass ``vectorized``-style functions such as
        ``lambda x, y: x.mean(-1) - y.mean(-1)``) it is evaluated on all relabellings at
        once, otherwise once per relabelling.
    n_permutations : int
        Random relabellings; when the number of distinct splits ``C(n_x + n_y, n_x)`` is
        not larger, all are enumerated (exact test).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: the statistic is larger than under exchangeability.
    seed : int or numpy Generator
    min_n : int
        Fewest values allowed per group (default 2).
    subjects_x, subjects_y : array_like, optional
        The subject (animal, session, model seed) of each value. When given, whole
        subjects are relabelled, never single recordings: recordings of one subject are
        repeated measures, and exchanging them one by one treats them as independent
        (with 3 subjects x 4 recordings per group, a recording-level test of directions
        rejected a true null in 37-63% of replicates). The statistic is still computed
        on the recordings of the relabelled groups. A subject found in both groups is
        two units, one per group. Values dropped as NaN drop their subject label too.

    Returns
    -------
    PermutationResult
        ``exact``, ``n_permutations`` and ``min_p`` count relabellings of subjects when
        subjects are given (``C(k_x + k_y, k_x)`` splits of ``k`` subjects).

    Notes
    -----
    ``p = (1 + #{T* >= T}) / (1 + B)`` for ``B`` random relabellings (Phipson & Smyth
    2010), which keeps the test valid (size <= alpha); two-sided compares ``|T*|`` with
    ``|T|``, which suits statistics symmetric under the null (differences).
    Relabelling subjects is a cluster permutation test: subjects, not recordings, are
    exchangeable under the null.

    Examples
    --------
    Four recordings per group: all 70 splits are enumerated.

    >>> res = permutation_test([1.1, 2.0, 2.4, 3.1], [3.5, 4.2, 4.8, 5.0])
    >>> round(res.p_value, 4), res.exact
    (0.0286, True)
    """
    check_option("alternative", alternative, ("two-sided", "greater", "less"))
    fn = _STATS[statistic] if isinstance(statistic, str) and statistic in _STATS else statistic
    if isinstance(statistic, str) and statistic not in _STATS:
        check_option("statistic", statistic, tuple(_STATS))
    rng = np.random.default_rng(seed)
    if (subjects_x is None) != (subjects_y is None):
        raise WaveInputError(
            "give the subjects of both groups (subjects_x and subjects_y) or of neither."
        )
    if subjects_x is not None:
        xs, sx = _labelled_sample("group x", x, subjects_x, min_n)
        ys, sy = _labelled_sample("group y", y, subjects_y, min_n)
        obs = float(fn(xs, ys))
        null, n_splits, exact = _cluster_null(fn, xs, ys, sx, sy, n_permutations, rng)
    else:
        xs = _sample("group x", x, min_n, "a permutation test")
        ys = _sample("group y", y, min_n, "a permutation test")
        pooled = np.concatenate([xs, ys])
        nx, n = xs.size, pooled.size
        n_splits = math.comb(n, nx)
        if n_splits <= n_permutations:
            idx = np.array([_split_order(c, n) for c in combinations(range(n), nx)])
            exact = True
        else:
            idx = np.argsort(rng.random((n_permutations, n)), axis=1)
            exact = False
        obs = float(fn(xs, ys))
        perm = pooled[idx]
        null = _apply(fn, perm[:, :nx], perm[:, nx:])
    if not (np.isfinite(obs) and np.all(np.isfinite(null))):
        raise WaveInputError(
            "the statistic is NaN/inf on the data or on some relabellings; "
            "use a statistic defined for every split of these samples."
        )
    tol = 1e-12 * max(1.0, abs(obs))
    if alternative == "two-sided":
        hits = np.abs(null) >= abs(obs) - tol
    elif alternative == "greater":
        hits = null >= obs - tol
    else:
        hits = null <= obs + tol
    if exact:
        # the identity split is among the enumerated ones
        p = float(np.mean(hits))
        min_p = 1.0 / n_splits
    else:
        p = float((1 + hits.sum()) / (1 + n_permutations))
        min_p = 1.0 / (1 + n_permutations)
    return PermutationResult(obs, p, len(null), exact, min_p, alternative)


def _labelled_sample(name: str, x, subjects, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite values of ``x`` and the subject label of each."""
    a = np.asarray(x, dtype=float).ravel()
    s = np.asarray(subjects, dtype=object).ravel()
    if s.shape != a.shape:
        raise WaveInputError(
            f"{name} has {a.size} values but {s.size} subject labels; give one subject per value."
        )
    ok = np.isfinite(a)
    _sample(name, a, min_n, "a permutation test")
    return a[ok], np.asarray([str(v) for v in s[ok]])


def _cluster_null(fn, xs, ys, sx, sy, n_permutations: int, rng) -> tuple[np.ndarray, int, bool]:
    """The statistic on relabellings of whole subjects (clusters), and how many splits
    the design has and whether all were enumerated."""
    values = np.concatenate([xs, ys])
    # a subject in both groups is two units (one per group): its parts are not swapped
    labels = np.concatenate([np.char.add("x:", sx.astype(str)), np.char.add("y:", sy.astype(str))])
    units, unit_of = np.unique(labels, return_inverse=True)
    kx = len(np.unique(unit_of[: xs.size]))
    k = len(units)
    n_splits = math.comb(k, kx)
    if n_splits <= n_permutations:
        chosen = np.zeros((n_splits, k), bool)
        for i, c in enumerate(combinations(range(k), kx)):
            chosen[i, list(c)] = True
        exact = True
    else:
        order = np.argsort(rng.random((n_permutations, k)), axis=1)
        chosen = np.zeros((n_permutations, k), bool)
        np.put_along_axis(chosen, order[:, :kx], True, axis=1)
        exact = False
    in_x = chosen[:, unit_of]  # (splits, recordings)
    if fn is _STATS["mean"]:
        sum_x = in_x @ values
        n_x = in_x.sum(1)
        null = sum_x / n_x - (values.sum() - sum_x) / (values.size - n_x)
    else:
        null = np.array([float(fn(values[m], values[~m])) for m in in_x])
    return np.asarray(null, float), n_splits, exact


def cluster_resamples(subjects, n_boot: int, rng) -> list[np.ndarray]:
    """Indices of ``n_boot`` bootstrap resamples that draw whole subjects with replacement.

    Each resample takes as many subjects as there are, each with all its recordings, so
    that repeated measures of one subject stay together (the cluster bootstrap for
    hierarchical data; Davison & Hinkley 1997). ``subjects`` gives the subject of each value.
    """
    s = np.asarray([str(v) for v in np.asarray(subjects, dtype=object).ravel()])
    _, unit_of = np.unique(s, return_inverse=True)
    members = [np.flatnonzero(unit_of == u) for u in range(unit_of.max() + 1)]
    draws = np.random.default_rng(rng).integers(0, len(members), (n_boot, len(members)))
    return [np.concatenate([members[u] for u in row]) for row in draws]


def _split_order(chosen, n):
    rest = [i for i in range(n) if i not in set(chosen)]
    return list(chosen) + rest


def _apply(fn, xs, ys) -> np.ndarray:
    """``fn`` on each row pair, vectorised when ``fn`` reduces along the last axis."""
    if fn in _STATS.values():
        return np.asarray(fn(xs, ys), float)
    try:
        out = np.asarray(fn(xs, ys), float)
        if out.shape == (xs.shape[0],):
            return out
    except Exception:  # noqa: BLE001 - fall back to a loop for scalar-only callables
        pass
    return np.array([float(fn(a, b)) for a, b in zip(xs, ys)])


# ---------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapCI:
    """Bootstrap confidence interval.

    Attributes
    ----------
    estimate : float
        The statistic on the data.
    low, high : float
        Interval ends (same unit as ``estimate``).
    level : float
        Confidence level, e.g. 0.95.
    method : str
        ``"percentile"`` or ``"bca"``.
    n_boot : int
    se : float
        Bootstrap standard error.
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    n_boot: int
    se: float


def bootstrap_ci(
    data,
    statistic: Callable = np.mean,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    method: str = "bca",
    seed=0,
    min_n: int = 3,
) -> BootstrapCI:
    """Bootstrap confidence interval of any statistic of one or several samples.

    Parameters
    ----------
    data : array_like or sequence of array_like
        One sample (1-D), or a tuple of samples resampled independently (e.g. two
        groups for a difference); NaNs are dropped.
    statistic : callable
        ``statistic(*samples) -> float``. If it accepts an ``axis`` keyword (as
        ``np.mean``, ``np.median`` do) it is evaluated on all resamples at once with
        ``axis=-1``; otherwise once per resample.
    n_boot : int
        Number of resamples.
    level : float
        Confidence level in (0, 1).
    method : {"bca", "percentile"}
        ``"bca"``: bias-corrected and accelerated (Efron & Tibshirani 1993, ch. 14),
        with the acceleration from the jackknife over all observations; second-order
        accurate. ``"percentile"``: the ``(1 - level) / 2`` quantiles of the resampled
        statistic.
    seed : int or numpy Generator
    min_n : int
        Fewest values per sample (default 3; the bootstrap of 2 values is degenerate).

    Returns
    -------
    BootstrapCI
        When every resample gives the same value (e.g. constant data) the interval is
        that value on both ends.

    Examples
    --------
    >>> ci = bootstrap_ci([1.1, 2.0, 2.4, 3.1, 3.5, 4.2], np.median, seed=0)
    >>> round(ci.low, 2), round(ci.high, 2)
    (1.55, 3.85)
    """
    check_option("method", method, ("bca", "percentile"))
    if not 0 < level < 1:
        raise WaveInputError(f"level must be in (0, 1), got {level}.")
    samples = _as_samples(data)
    samples = [
        _sample(f"sample {i}", s, min_n, "a bootstrap interval") for i, s in enumerate(samples)
    ]
    rng = np.random.default_rng(seed)
    est = float(statistic(*samples))
    res = [s[rng.integers(0, s.size, size=(n_boot, s.size))] for s in samples]
    boot = _apply_axis(statistic, res)
    boot = boot[np.isfinite(boot)]
    if boot.size < n_boot // 2:
        raise WaveInputError(
            "the statistic is undefined (NaN) on most bootstrap resamples; "
            "check it on small samples or add data."
        )
    a_lo, a_hi = (1 - level) / 2, (1 + level) / 2
    se = float(np.std(boot, ddof=1))
    if np.ptp(boot) == 0:
        return BootstrapCI(est, est, est, level, method, n_boot, 0.0)
    if method == "percentile":
        lo, hi = np.quantile(boot, [a_lo, a_hi])
        return BootstrapCI(est, float(lo), float(hi), level, method, n_boot, se)
    # BCa: bias correction z0 and acceleration a (jackknife over each sample in turn)
    prop = (np.sum(boot < est) + 0.5 * np.sum(boot == est)) / boot.size
    prop = np.clip(prop, 1.0 / (boot.size + 1), boot.size / (boot.size + 1))
    z0 = _st.norm.ppf(prop)
    jack = []
    for i, s in enumerate(samples):
        keep = ~np.eye(s.size, dtype=bool)
        loo = s[None, :].repeat(s.size, 0)[keep].reshape(s.size, s.size - 1)
        others = [np.broadcast_to(o, (s.size, o.size)) for o in samples]
        others[i] = loo
        jack.append(_apply_axis(statistic, others))
    jk = np.concatenate(jack)
    d = jk.mean() - jk
    den = 6.0 * np.sum(d**2) ** 1.5
    acc = float(np.sum(d**3) / den) if den > 0 else 0.0
    z = _st.norm.ppf([a_lo, a_hi])
    adj = _st.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
    if not np.all(np.isfinite(adj)):  # extreme acceleration: fall back to percentiles
        adj = np.array([a_lo, a_hi])
    lo, hi = np.quantile(boot, adj)
    return BootstrapCI(est, float(lo), float(hi), level, method, n_boot, se)


def _as_samples(data) -> list:
    if isinstance(data, (tuple, list)) and len(data) and np.ndim(data[0]) >= 1:
        return list(data)
    return [data]


def _apply_axis(statistic, samples) -> np.ndarray:
    n = samples[0].shape[0]
    try:
        out = np.asarray(statistic(*samples, axis=-1), float)
        if out.shape == (n,):
            return out
    except TypeError:
        pass
    return np.array([float(statistic(*(s[i] for s in samples))) for i in range(n)])


# ---------------------------------------------------------------- effect sizes


@dataclass(frozen=True)
class Effect:
    """An effect size with its bootstrap confidence interval.

    Attributes
    ----------
    name : str
        ``"cliffs_delta"``, ``"cohens_d"``, ``"hedges_g"`` or ``"circ_mean_difference"``.
    estimate, low, high : float
        Estimate and interval (radians for the circular mean difference).
    level : float
    """

    name: str
    estimate: float
    low: float
    high: float
    level: float


def cliffs_delta(x, y, axis=-1) -> np.ndarray:
    """Cliff's delta ``P(X > Y) - P(X < Y)`` in [-1, 1] (unitless, rank-based).

    Samples lie along the last axis (``axis`` must be -1; leading axes broadcast).

    Computed from all pairs: ``mean(sign(x_i - y_j))``, i.e. ``2 U / (n_x n_y) - 1``
    with ``U`` the Mann-Whitney statistic of ``x`` (ties count one half).
    Conventional magnitudes (Romano et al. 2006): |d| < 0.147 negligible, < 0.33 small,
    < 0.474 medium, otherwise large.
    """
    if axis not in (-1,):
        raise WaveInputError("cliffs_delta reduces along the last axis only (axis=-1).")
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim == 1 and y.ndim == 1:
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    diff = np.sign(x[..., :, None] - y[..., None, :])
    return np.mean(diff, axis=(-2, -1))


def cohens_d(x, y, axis=-1) -> np.ndarray:
    """Cohen's d: ``(mean x - mean y) / s_pooled`` (unitless).

    ``s_pooled = sqrt(((n_x - 1) s_x^2 + (n_y - 1) s_y^2) / (n_x + n_y - 2))``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim == 1 and y.ndim == 1:
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    nx, ny = x.shape[axis], y.shape[axis]
    vx, vy = np.var(x, axis=axis, ddof=1), np.var(y, axis=axis, ddof=1)
    sp = np.sqrt(((nx - 1) * vx + (ny - 1) * vy) / (nx + ny - 2))
    diff = np.mean(x, axis=axis) - np.mean(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sp > 0, diff / np.where(sp > 0, sp, 1), np.sign(diff) * np.inf)


def hedges_g(x, y, axis=-1) -> np.ndarray:
    """Hedges' g: Cohen's d times the small-sample correction ``J = 1 - 3 / (4 df - 1)``,
    ``df = n_x + n_y - 2`` (Hedges 1981), unbiased for normal data."""
    nx, ny = np.shape(x)[axis], np.shape(y)[axis]
    if np.ndim(x) == 1:
        nx, ny = int(np.isfinite(x).sum()), int(np.isfinite(np.asarray(y, float)).sum())
    df = nx + ny - 2
    return (1 - 3 / (4 * df - 1)) * cohens_d(x, y, axis=axis)


def effect_size(
    x, y, kind: str = "cliffs_delta", *, level: float = 0.95, n_boot: int = 2000, seed=0
) -> Effect:
    """Effect size of ``x`` against ``y`` with a bootstrap (BCa) interval.

    Parameters
    ----------
    kind : {"cliffs_delta", "cohens_d", "hedges_g"}
    """
    fns = {"cliffs_delta": cliffs_delta, "cohens_d": cohens_d, "hedges_g": hedges_g}
    check_option("kind", kind, tuple(fns))
    ci = bootstrap_ci((x, y), fns[kind], n_boot=n_boot, level=level, seed=seed, min_n=2)
    return Effect(kind, ci.estimate, ci.low, ci.high, level)


def circ_mean_difference(
    a,
    b,
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed=0,
    subjects_a=None,
    subjects_b=None,
) -> Effect:
    """Difference of circular mean directions ``wrap(mean a - mean b)``, radians, with a
    bootstrap interval.

    The interval is the percentile interval of the resampled differences measured as
    wrapped deviations from the observed one (so it never straddles the +-pi cut);
    ``low`` and ``high`` are ``estimate`` plus those deviations and may exceed pi.
    Each sample needs at least 3 angles. With ``subjects_a`` and ``subjects_b`` (the
    subject of each angle) whole subjects are resampled (:func:`cluster_resamples`).
    """
    if subjects_a is not None and subjects_b is not None:
        a, sa = _labelled_sample("sample a", a, subjects_a, 3)
        b, sb = _labelled_sample("sample b", b, subjects_b, 3)
    else:
        a = _sample("sample a", a, 3, "a circular mean difference")
        b = _sample("sample b", b, 3, "a circular mean difference")
        sa = sb = None
    est = float(wrap(circ_mean(a) - circ_mean(b)))
    rng = np.random.default_rng(seed)
    if sa is not None:
        ia, ib = cluster_resamples(sa, n_boot, rng), cluster_resamples(sb, n_boot, rng)
        ma = np.array([circ_mean(a[i]) for i in ia])
        mb = np.array([circ_mean(b[i]) for i in ib])
        dev = wrap(ma - mb - est)
    else:
        ra = a[rng.integers(0, a.size, (n_boot, a.size))]
        rb = b[rng.integers(0, b.size, (n_boot, b.size))]
        dev = wrap(circ_mean(ra, axis=1) - circ_mean(rb, axis=1) - est)
    dev = dev[np.isfinite(dev)]
    lo, hi = np.quantile(dev, [(1 - level) / 2, (1 + level) / 2])
    return Effect("circ_mean_difference", est, est + float(lo), est + float(hi), level)


# ---------------------------------------------------------------- mixed effects


@dataclass(frozen=True)
class MixedEffectsResult:
    """Fixed group effects of a random-intercept model ``y ~ group + (1 | subject)``.

    Attributes
    ----------
    property : str
    reference : str
        The group every estimate is compared with.
    effects : dict
        ``{group: {"estimate", "low", "high", "se", "p_value"}}``: the difference of
        the group's mean from the reference's, in the property's unit.
    df : int
        Degrees of freedom of the t reference distribution.
    n_obs, n_subjects : int
    subject_variance, residual_variance : float
    converged : bool
    """

    property: str
    reference: str
    effects: dict
    level: float
    df: int
    n_obs: int
    n_subjects: int
    subject_variance: float
    residual_variance: float
    converged: bool


def _columns(table, names) -> dict:
    """Columns ``names`` of a DataFrame, a dict of columns or a list of row dicts."""
    if hasattr(table, "columns") and hasattr(table, "to_dict"):  # pandas DataFrame
        cols = {c: table[c].to_numpy() for c in table.columns if c in names}
        available = list(table.columns)
    elif isinstance(table, dict):
        cols = {c: np.asarray(table[c]) for c in names if c in table}
        available = list(table)
    else:
        rows = list(table)
        available = sorted({k for r in rows for k in r})
        cols = {c: np.asarray([r.get(c) for r in rows]) for c in names if c in available}
    for c in names:
        if c not in cols:
            raise WaveInputError(f"column {c!r} is not in the table; columns are {available}.")
    n = {len(v) for v in cols.values()}
    if len(n) != 1:
        raise WaveInputError(f"columns {list(names)} have different lengths {sorted(n)}.")
    return cols


def mixed_effects(
    table,
    property: str,
    group_col: str = "group",
    subject_col: str = "subject",
    *,
    reference: str | None = None,
    level: float = 0.95,
) -> MixedEffectsResult:
    """Group differences of a property with repeated recordings (or seeds) per subject.

    Fits the linear mixed model ``property ~ C(group) + (1 | subject)`` by REML with
    :class:`statsmodels.regression.mixed_linear_model.MixedLM`.

    Parameters
    ----------
    table : pandas.DataFrame, dict of columns or list of row dicts
        One row per recording (e.g. the table of
        :func:`~wavescope.stats.properties.wave_properties` with a subject column).
    property : str
        Column to model.
    group_col, subject_col : str
        Columns naming the group (fixed effect) and the subject, animal or seed whose
        recordings are correlated (random intercept).
    reference : str, optional
        Reference group (default: the first in sorted order).
    level : float
        Confidence level of the intervals.

    Returns
    -------
    MixedEffectsResult

    Notes
    -----
    statsmodels reports Wald z-tests, which are anti-conservative with few subjects.
    Here the p-values and intervals use a t distribution with the between-subject
    degrees of freedom ``n_subjects - n_groups`` (the "containment" approximation),
    which keeps the false-positive rate at or below nominal for subjects nested in
    groups. Needs at least 2 groups, 2 observations per group and more subjects than
    groups.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    cols = _columns(table, (property, group_col, subject_col))
    y = np.array([_num(v) for v in cols[property]], float)
    ok = np.isfinite(y)
    y = y[ok]
    gcol = cols[group_col][ok].astype(str)
    subj = cols[subject_col][ok]
    groups = sorted(set(gcol.tolist()))
    if len(groups) < 2:
        raise WaveInputError(
            f"mixed_effects needs at least 2 groups with values of {property!r}, got {groups}."
        )
    counts = {g: int(np.sum(gcol == g)) for g in groups}
    gmin = min(counts, key=counts.get)
    if counts[gmin] < 2:
        raise WaveInputError(
            f"group {gmin!r} has {counts[gmin]} usable value(s) of {property!r}; "
            "a mixed-effects model needs at least 2 per group."
        )
    _, subj_codes = np.unique(subj.astype(str), return_inverse=True)
    n_sub = int(subj_codes.max()) + 1
    dof = n_sub - len(groups)
    if dof < 1:
        raise WaveInputError(
            f"{n_sub} subject(s) for {len(groups)} groups: a random-intercept model needs "
            f"at least {len(groups) + 1} subjects (recordings from more animals or seeds)."
        )
    ref = groups[0] if reference is None else str(reference)
    if ref not in groups:
        raise WaveInputError(f"reference={reference!r} is not a group; groups are {groups}.")
    others = [g for g in groups if g != ref]
    exog = np.column_stack([np.ones(y.size)] + [(gcol == g).astype(float) for g in others])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            fit = MixedLM(y, exog, groups=subj_codes).fit(reml=True)
        except np.linalg.LinAlgError:
            raise WaveInputError(
                f"the mixed model of {property!r} is singular; check for constant values "
                "or groups that coincide with subjects."
            ) from None
    tq = _st.t.ppf((1 + level) / 2, dof)
    effects = {}
    params, bse = np.asarray(fit.fe_params), np.asarray(fit.bse_fe)
    for j, g in enumerate(others, start=1):
        est, se = float(params[j]), float(bse[j])
        if not np.isfinite(se) or se <= 0:
            raise WaveInputError(
                f"the mixed model of {property!r} is degenerate (no residual variance); "
                "check for constant values."
            )
        tstat = est / se
        effects[g] = {
            "estimate": est,
            "low": float(est - tq * se),
            "high": float(est + tq * se),
            "se": se,
            "p_value": float(2 * _st.t.sf(abs(tstat), dof)),
        }
    return MixedEffectsResult(
        property,
        ref,
        effects,
        level,
        int(dof),
        int(y.size),
        int(n_sub),
        float(np.asarray(fit.cov_re)[0, 0]),
        float(fit.scale),
        bool(fit.converged),
    )


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


# ---------------------------------------------------------------- multiple comparisons


def fdr(p_values, alpha: float = 0.05, method: str = "bh"):
    """False-discovery-rate control across properties.

    Parameters
    ----------
    p_values : array_like or dict
        One p-value per property (a dict keeps its keys).
    alpha : float
        Target false-discovery rate.
    method : {"bh", "by"}
        Benjamini-Hochberg (independent or positively dependent tests) or
        Benjamini-Yekutieli (any dependence), through
        :func:`statsmodels.stats.multitest.multipletests`.

    Returns
    -------
    reject, q_values : ndarray of bool, ndarray (or dicts keyed like ``p_values``)
        ``q_values`` are the adjusted p-values: reject where ``q <= alpha``.
    """
    from statsmodels.stats.multitest import multipletests

    check_option("method", method, ("bh", "by"))
    keys = list(p_values) if isinstance(p_values, dict) else None
    p = np.asarray(list(p_values.values()) if keys is not None else p_values, float)
    if p.size == 0:
        raise WaveInputError("fdr needs at least one p-value.")
    if not np.all((p >= 0) & (p <= 1)):
        raise WaveInputError("p-values must lie in [0, 1] (NaN found or out of range).")
    reject, q, _, _ = multipletests(p, alpha=alpha, method="fdr_" + method)
    if keys is not None:
        return dict(zip(keys, reject.tolist())), dict(zip(keys, q.tolist()))
    return reject, q
