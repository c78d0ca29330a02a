"""Statistics of a group comparison of wave properties, and a comparison with a published
reference speed distribution.

:func:`compare_groups` takes the tidy table of
:func:`~wavescope.stats.properties.wave_properties` (one row per recording) and returns a
JSON-ready dict:

- per property and group: the median with a bootstrap (BCa) interval (the circular mean
  with a wrapped percentile interval for ``direction_mean``);
- per property and pair of groups: a two-sided permutation test of the difference of
  means (of circular means for directions), Cliff's delta and Hedges' g with bootstrap
  intervals (the circular mean difference for directions), a random-intercept
  mixed-effects model when subjects (animals, seeds) repeat across recordings, and the
  Benjamini-Hochberg false-discovery-rate correction across every property x pair test;
- messages for groups with too few recordings (never a NaN p-value).

Raw properties (speed in m/s, wavelength in mm, ...) are compared only between groups
that share their unit; dimensionless ones between every pair.

:func:`compare_reference` compares a group's per-recording speeds (m/s) with a published
density of cortical wave speeds, e.g. the marmoset MT distribution of Davis et al. 2021
(:func:`load_reference_speeds`).

References
----------
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. J R Stat Soc B 57,
289-300.
Davis ZW, Benigno GB, Fletterman C, Desbordes T, Steward C, Sejnowski TJ, Reynolds JH,
Muller L (2021). Spontaneous traveling waves naturally emerge from horizontal fiber time
delays and travel through locally asynchronous-irregular states. Nat Commun 12, 6057.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats as _st

from wavescope.core.circular import circ_mean, wrap
from wavescope.core.units import SPACE_UNITS, TIME_UNITS
from wavescope.core.validate import WaveInputError
from wavescope.stats.properties import DIMENSIONLESS, RAW
from wavescope.stats.tests import (
    bootstrap_ci,
    circ_mean_difference,
    effect_size,
    fdr,
    mixed_effects,
    permutation_test,
)

__all__ = [
    "CIRCULAR",
    "DEFAULT_PROPERTIES",
    "DAVIS2021",
    "MIN_N",
    "ReferenceSpeeds",
    "compare_groups",
    "compare_reference",
    "load_reference_speeds",
]

#: Fewest usable recordings per group for an interval or a test (a bootstrap of 2 values
#: is degenerate).
MIN_N = 3
#: Properties that are angles (compared with circular statistics).
CIRCULAR = ("direction_mean",)
#: Properties compared by default (those present in the table are used).
DEFAULT_PROPERTIES = (
    "pgd_median",
    "wave_fraction",
    "direction_concentration",
    "direction_mean",
    "wavelength_per_extent",
    "speed_sites_per_cycle",
    "speed_median",
    "wavelength_median",
    "frequency_median",
)
#: Citation of the reference speed distribution.
DAVIS2021 = (
    "Davis ZW, Benigno GB, Fletterman C, Desbordes T, Steward C, Sejnowski TJ, Reynolds JH, "
    "Muller L (2021). Spontaneous traveling waves naturally emerge from horizontal fiber time "
    "delays and travel through locally asynchronous-irregular states. Nat Commun 12, 6057."
)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _f(v):
    """A float for JSON (None for NaN/inf)."""
    v = _num(v)
    return v if np.isfinite(v) else None


def _cols(table):
    if hasattr(table, "columns"):
        return list(table.columns), {c: table[c].to_numpy() for c in table.columns}
    if isinstance(table, dict):
        return list(table), {c: np.asarray(v) for c, v in table.items()}
    rows = list(table)
    names = sorted({k for r in rows for k in r})
    return names, {c: np.asarray([r.get(c) for r in rows], dtype=object) for c in names}


def _unit_of(cols, prop, rows) -> list[str]:
    col = prop + "_unit"
    if col in cols:
        return sorted({str(u) for u in np.asarray(cols[col])[rows]})
    return [DIMENSIONLESS.get(prop, "?")]


def _circ_ci(x, level, n_boot, rng):
    est = float(circ_mean(x))
    boot = circ_mean(x[rng.integers(0, x.size, (n_boot, x.size))], axis=1)
    dev = wrap(boot - est)
    lo, hi = np.quantile(dev[np.isfinite(dev)], [(1 - level) / 2, (1 + level) / 2])
    return est, est + float(lo), est + float(hi)


def _too_few(group, n, prop, what="an interval or a test"):
    return (
        f"group {group!r} has {n} usable recording(s) for {prop!r}; {what} needs at least "
        f"{MIN_N} per group: add recordings or seeds."
    )


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
) -> dict:
    """Compare wave properties between groups of recordings.

    Parameters
    ----------
    table : pandas.DataFrame, dict of columns or list of row dicts
        One row per recording, e.g. from :func:`~wavescope.stats.properties.wave_properties`;
        each property ``X`` may have a unit column ``X_unit``.
    properties : sequence of str, optional
        Columns to compare. Default: those of :data:`DEFAULT_PROPERTIES` in the table.
        Raw properties are compared only between groups in the same unit; naming one
        explicitly when no two groups share its unit raises :class:`WaveInputError`.
    group_col : str
        Column with the group label.
    subject_col : str, optional
        Column naming the animal, subject or seed. When some subject has more than one
        recording, each pair of groups is also fitted with the random-intercept model
        ``property ~ group + (1 | subject)``
        (:func:`~wavescope.stats.tests.mixed_effects`), and its p-value (not the
        permutation test's, whose exchangeability fails) is the one corrected.
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
    dict
        ``groups``, ``properties`` (``{name: {"unit", "kind"}}``), ``summaries`` (one
        entry per property x group: ``n``, ``estimate`` (median, or circular mean in
        rad), ``low``, ``high``, ``unit``, ``message``), ``tests`` (one entry per
        property x pair: ``difference`` (mean a - mean b, or wrapped circular mean
        difference), ``p_value`` (raw, the one corrected), ``p_permutation``,
        ``p_fdr``, ``significant``, ``cliffs_delta``/``hedges_g``/
        ``circ_mean_difference`` (each ``{"estimate", "low", "high"}``), ``mixed``,
        ``min_p``, ``message``), ``messages`` and ``settings``. Missing values are
        None, never NaN.

    Raises
    ------
    WaveInputError
        When no group has :data:`MIN_N` usable recordings of any property, when the
        table lacks a column, or for a raw property named explicitly across units.
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
    subj = None
    if subject_col is not None:
        if subject_col not in cols:
            raise WaveInputError(f"the table has no subject column {subject_col!r}.")
        subj = np.asarray([str(s) for s in cols[subject_col]])
    counts = {g: int(np.sum(g_all == g)) for g in groups}
    if all(n < MIN_N for n in counts.values()):
        raise WaveInputError(
            f"every group has fewer than {MIN_N} recordings ({counts}); a comparison needs at "
            f"least {MIN_N} recordings (or seeds) per group, and at least 4 per group for a "
            "two-sided permutation test that can reach p < 0.05."
        )
    rng = np.random.default_rng(seed)
    messages: list[str] = []
    if len(groups) == 1:
        messages.append(f"only one group ({groups[0]!r}): estimates only, no pairwise tests.")
    summaries, tests, props_info = [], [], {}
    values = {}
    for prop in properties:
        y = np.array([_num(v) for v in cols[prop]], float)
        circular = prop in CIRCULAR
        kind = "circular" if circular else ("raw" if prop in RAW else "dimensionless")
        gunit = {}
        for g in groups:
            rows = g_all == g
            units = _unit_of(cols, prop, rows)
            if len(units) > 1:
                raise WaveInputError(
                    f"group {g!r} has {prop!r} in several units {units}: recordings in one "
                    "group must share their units (split the group, or compare only "
                    "dimensionless properties)."
                )
            gunit[g] = units[0]
            x = y[rows & np.isfinite(y)]
            values[(prop, g)] = x
            entry = {"property": prop, "group": g, "unit": units[0], "n": int(x.size)}
            if x.size < MIN_N:
                entry.update(estimate=None, low=None, high=None, message=_too_few(g, x.size, prop))
                messages.append(entry["message"])
            elif circular:
                est, lo, hi = _circ_ci(x, level, n_boot, rng)
                entry.update(estimate=_f(est), low=_f(lo), high=_f(hi), message=None)
            else:
                ci = bootstrap_ci(x, np.median, n_boot=n_boot, level=level, seed=rng)
                entry.update(
                    estimate=_f(ci.estimate), low=_f(ci.low), high=_f(ci.high), message=None
                )
            entry["statistic"] = "circular mean" if circular else "median"
            summaries.append(entry)
        unique_units = sorted(set(gunit.values()))
        props_info[prop] = {"kind": kind, "units": unit_map(gunit)}
        pairs = list(combinations(groups, 2))
        shared = [(a, b) for a, b in pairs if gunit[a] == gunit[b]]
        if kind == "raw" and len(unique_units) > 1:
            if explicit and not shared:
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
        for a, b in pairs:
            tests.append(
                _pair_test(
                    prop,
                    circular,
                    gunit[a],
                    a,
                    b,
                    values,
                    g_all,
                    subj,
                    y,
                    n_permutations,
                    n_boot,
                    level,
                    alpha,
                    rng,
                    messages,
                )
            )
    usable = [t for t in tests if t["p_value"] is not None]
    if usable:
        _, q = fdr([t["p_value"] for t in usable], alpha=alpha, method="bh")
        for t, qv in zip(usable, q):
            t["p_fdr"] = float(qv)
            t["significant"] = bool(qv <= alpha)
    return {
        "groups": groups,
        "n_recordings": counts,
        "properties": props_info,
        "summaries": summaries,
        "tests": tests,
        "messages": messages,
        "settings": {
            "n_permutations": int(n_permutations),
            "n_boot": int(n_boot),
            "level": float(level),
            "alpha": float(alpha),
            "seed": int(seed),
            "min_n": MIN_N,
            "fdr": "Benjamini-Hochberg across every property x pair test",
            "mixed_effects": subj is not None,
        },
    }


def unit_map(gunit: dict) -> dict:
    """``{group: unit}`` (a copy, for JSON)."""
    return {str(k): str(v) for k, v in gunit.items()}


def _circ_diff(x, y, axis=-1):
    return wrap(circ_mean(x, axis=axis) - circ_mean(y, axis=axis))


def _effect_dict(e):
    d = {"estimate": _f(e.estimate), "low": _f(e.low), "high": _f(e.high)}
    return d if d["estimate"] is not None else None


def _pair_test(
    prop, circular, unit, a, b, values, g_all, subj, y, n_perm, n_boot, level, alpha, rng, messages
):
    x1, x2 = values[(prop, a)], values[(prop, b)]
    t = {
        "property": prop,
        "group_a": a,
        "group_b": b,
        "unit": unit,
        "n_a": int(x1.size),
        "n_b": int(x2.size),
        "difference": None,
        "statistic": "circular mean difference" if circular else "difference of means",
        "p_value": None,
        "p_permutation": None,
        "p_fdr": None,
        "significant": None,
        "test": None,
        "min_p": None,
        "cliffs_delta": None,
        "hedges_g": None,
        "circ_mean_difference": None,
        "mixed": None,
        "message": None,
    }
    small = [(g, x.size) for g, x in ((a, x1), (b, x2)) if x.size < MIN_N]
    if small:
        g, n = small[0]
        t["message"] = _too_few(g, n, prop, f"the test {a} vs {b}")
        return t
    perm = permutation_test(
        x1, x2, _circ_diff if circular else "mean", n_permutations=n_perm, seed=rng
    )
    t["difference"] = _f(perm.statistic)
    t["p_permutation"] = t["p_value"] = float(perm.p_value)
    t["test"] = "permutation" + (" (exact)" if perm.exact else "")
    # a two-sided exact test of two equal-sized groups cannot go below 2 / C(n, n_a)
    min_p = perm.min_p * (2 if perm.exact and x1.size == x2.size else 1)
    t["min_p"] = float(min_p)
    if min_p > alpha:
        note = (
            f"{a} vs {b}: with {x1.size} and {x2.size} recordings the smallest possible "
            f"p-value is {min_p:.3g} > alpha {alpha:g}; these tests cannot reject (at least 4 "
            "recordings per group are needed, 5 or more to survive an FDR correction)."
        )
        t["message"] = note
        if note not in messages:
            messages.append(note)
    seed = int(rng.integers(2**31))
    if circular:
        t["circ_mean_difference"] = _effect_dict(
            circ_mean_difference(x1, x2, level=level, n_boot=n_boot, seed=seed)
        )
    else:
        for kind in ("cliffs_delta", "hedges_g"):
            try:
                # a resample or leave-one-out sample without spread has an infinite g; the
                # bootstrap drops those (and falls back to percentiles), quietly
                with np.errstate(invalid="ignore", divide="ignore"):
                    e = effect_size(x1, x2, kind, level=level, n_boot=n_boot, seed=seed)
                t[kind] = _effect_dict(e)
            except WaveInputError:
                t[kind] = None
            if t[kind] is None:
                msg = f"{kind} of {prop!r} {a} vs {b} is undefined (no spread in the values)."
                messages.append(msg)
    if subj is not None and not circular:
        rows = ((g_all == a) | (g_all == b)) & np.isfinite(y)
        s = subj[rows]
        if len(set(s.tolist())) < s.size:  # some subject has repeated recordings
            try:
                m = mixed_effects(
                    {"y": y[rows], "g": g_all[rows], "s": s},
                    "y",
                    "g",
                    "s",
                    reference=b,
                    level=level,
                )
                eff = m.effects[a]
                t["mixed"] = {
                    "estimate": _f(eff["estimate"]),
                    "low": _f(eff["low"]),
                    "high": _f(eff["high"]),
                    "p_value": _f(eff["p_value"]),
                    "df": int(m.df),
                    "n_subjects": int(m.n_subjects),
                }
                if t["mixed"]["p_value"] is not None:
                    t["p_value"] = t["mixed"]["p_value"]
                    t["test"] = "mixed effects (random intercept per subject)"
            except (ValueError, np.linalg.LinAlgError) as exc:  # WaveInputError included
                messages.append(f"mixed model of {prop!r} {a} vs {b} not fitted: {exc}")
    return t


# ---------------------------------------------------------------- reference distribution


@dataclass(frozen=True)
class ReferenceSpeeds:
    """A published density of wave speeds.

    Attributes
    ----------
    speed : ndarray (n,)
        Speed grid, m/s.
    density : ndarray (n,)
        Probability density over ``speed`` (normalised to integrate to 1), s/m.
    unit : str
        ``"m/s"``.
    source, citation : str
    """

    speed: np.ndarray
    density: np.ndarray
    unit: str
    source: str
    citation: str

    def cdf(self, v) -> np.ndarray:
        """Cumulative distribution at speeds ``v`` (m/s)."""
        c = np.concatenate(
            [[0.0], np.cumsum(np.diff(self.speed) * 0.5 * (self.density[1:] + self.density[:-1]))]
        )
        c = c / c[-1]
        return np.interp(np.asarray(v, float), self.speed, c, left=0.0, right=1.0)

    def quantile(self, q) -> np.ndarray:
        """Speeds (m/s) at probabilities ``q``."""
        c = self.cdf(self.speed)
        return np.interp(np.asarray(q, float), c, self.speed)

    def summary(self) -> dict:
        q = self.quantile([0.25, 0.5, 0.75])
        return {
            "unit": self.unit,
            "mode": float(self.speed[int(np.argmax(self.density))]),
            "median": float(q[1]),
            "q25": float(q[0]),
            "q75": float(q[2]),
            "source": self.source,
            "citation": self.citation,
        }


def load_reference_speeds(path) -> ReferenceSpeeds:
    """Read a speed density ``.mat`` with variables ``speed_range`` (m/s) and ``k``.

    The Davis et al. (2021) marmoset MT density (``wolfie-speed_density.mat``, a 1 x 2000
    grid over 0.001-2 m/s) is the intended input; reading and validation are those of
    :func:`wavescope.datasets.read_davis2021_speeds` (one reader for the file).
    """
    from wavescope.datasets.davis2021 import read_davis2021_speeds

    dens = read_davis2021_speeds(path)
    return ReferenceSpeeds(dens.speed, dens.density, "m/s", dens.source, DAVIS2021)


def _to_mps(unit: str) -> float | None:
    """Factor from a speed unit ``space/time`` to m/s, or None if it is not physical."""
    try:
        s, t = unit.split("/")
    except ValueError:
        return None
    s = "site" if s == "sites" else s
    a, b = SPACE_UNITS.get(s), TIME_UNITS.get(t)
    if a is None or b is None:
        return None
    return (a / SPACE_UNITS["m"]) / (b / TIME_UNITS["s"])


def compare_reference(speeds, unit: str, reference: ReferenceSpeeds, *, group: str = "") -> dict:
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
    reference : ReferenceSpeeds

    Returns
    -------
    dict
        ``n``, ``group_median`` (m/s), ``reference_percentile`` of it, ``ks_statistic``,
        ``ks_p``, ``sign_p``, ``n_above`` (recordings above the reference median),
        ``message``.
    """
    k = _to_mps(unit)
    if k is None:
        raise WaveInputError(
            f"group {group!r} has speeds in {unit}: only physical speeds (m/s) can be compared "
            "with a cortical reference distribution."
        )
    x = np.asarray(speeds, float)
    x = x[np.isfinite(x)] * k
    out = {"group": group, "unit": "m/s", "n": int(x.size)}
    if x.size < MIN_N:
        out.update(
            group_median=_f(np.median(x)) if x.size else None,
            reference_percentile=None,
            ks_statistic=None,
            ks_p=None,
            sign_p=None,
            n_above=None,
            message=_too_few(group, x.size, "speed_median", "a comparison with the reference"),
        )
        return out
    ks = _st.kstest(x, reference.cdf)
    med = float(reference.quantile(0.5))
    above, below = int(np.sum(x > med)), int(np.sum(x < med))
    sign_p = float(_st.binomtest(above, above + below, 0.5).pvalue) if above + below else 1.0
    out.update(
        group_median=float(np.median(x)),
        reference_percentile=float(100 * reference.cdf(np.median(x))),
        ks_statistic=float(ks.statistic),
        ks_p=float(ks.pvalue),
        sign_p=sign_p,
        n_above=above,
        message=None,
    )
    return out
