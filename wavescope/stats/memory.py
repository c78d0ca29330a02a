"""Memory curves compared between groups, with the engine of the property comparisons.

:func:`compare_memory` takes memory-curve summaries per group (the dicts of
:meth:`wavescope.waves.memory.MemoryCurve.summary`, or objects with a ``summary()``), and
compares their horizons (in steps and, where the groups share a time unit, in time) and
capacities with :func:`wavescope.stats.compare.compare_values`: the same estimates,
pair tests, minimum number of subjects and false-discovery-rate correction as the wave
properties. A curve's subject is ``meta["subject"]`` when it has one (the model checkpoint
and seed, the animal), else the curve counts as its own subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError
from wavescope.io.curves import CURVE_KEYS
from wavescope.stats.compare import (
    GroupEstimate,
    PairTest,
    Settings,
    compare_values,
    correct_fdr,
)

__all__ = ["MEMORY_KEYS", "MemoryComparison", "MemoryGroup", "check_curve", "compare_memory"]

#: Keys a memory-curve summary must have (the one list, shared with the reader).
MEMORY_KEYS = CURVE_KEYS


@dataclass
class MemoryGroup(Result):
    """The memory curves of one group and their horizons and capacities."""

    name: str
    curves: list[dict]
    files: list[str | None]
    subjects: list[str]
    metrics: list[str]
    time_units: list[str]
    horizons: list[int]
    horizon_times: list[float]
    capacities: list[float]
    censored: list[bool]

    @property
    def n(self) -> int:
        return len(self.curves)


@dataclass
class MemoryComparison(Result):
    """The result of :func:`compare_memory`."""

    groups: dict[str, MemoryGroup]
    estimates: list[GroupEstimate]
    tests: list[PairTest]
    messages: list[str]
    settings: Settings
    interval: str = "median over curves with a BCa bootstrap interval"
    extra: dict = field(default_factory=dict)

    def estimate(self, prop: str, group: str) -> GroupEstimate | None:
        return next((e for e in self.estimates if e.property == prop and e.group == group), None)


def check_curve(curve, group: str) -> dict:
    """A curve summary dict from a dict or a MemoryCurve-like object, checked for its keys."""
    if hasattr(curve, "summary") and hasattr(curve, "horizon"):
        curve = curve.summary()
    if not isinstance(curve, dict):
        raise WaveInputError(
            f"memory group {group!r}: {type(curve).__name__} is not a memory-curve summary "
            "(MemoryCurve.summary() dict) or a MemoryCurve."
        )
    missing = [k for k in MEMORY_KEYS if k not in curve]
    if missing:
        raise WaveInputError(
            f"memory group {group!r}: a curve lacks {missing}; pass MemoryCurve.summary() dicts."
        )
    return curve


def compare_memory(
    curves: dict,
    *,
    files: dict | None = None,
    n_permutations: int = 9999,
    n_boot: int = 2000,
    level: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> MemoryComparison:
    """Memory curves per group, their horizons and capacities, and group comparisons.

    Parameters
    ----------
    curves : dict
        ``{group: [curve summaries or MemoryCurve objects]}``.
    files : dict, optional
        ``{group: [file of each curve or None]}`` (provenance for the report).
    n_permutations, n_boot, level, alpha, seed
        As in :func:`wavescope.stats.compare.compare_groups`.

    Returns
    -------
    MemoryComparison
        Per group the curves with their horizons (steps), horizon times (time units),
        capacities (steps) and whether each horizon is censored (a lower bound); the
        estimates and pair tests of ``horizon``, ``capacity`` and (groups sharing a time
        unit) ``horizon_time``, FDR-corrected together.
    """
    if not isinstance(curves, dict) or not curves:
        raise WaveInputError("curves must be a non-empty mapping {group: [curves]}.")
    st = Settings(int(n_permutations), int(n_boot), float(level), float(alpha), int(seed))
    rng = np.random.default_rng(seed)
    messages: list[str] = []
    groups: dict[str, MemoryGroup] = {}
    for g, items in curves.items():
        g = str(g)
        items = [items] if isinstance(items, dict) or hasattr(items, "summary") else list(items)
        if not items:
            raise WaveInputError(f"memory group {g!r} has no curves.")
        cs = [check_curve(c, g) for c in items]
        src = list((files or {}).get(g, [None] * len(cs)))
        if len(src) != len(cs):
            raise WaveInputError(f"memory group {g!r}: {len(src)} files for {len(cs)} curves.")
        subj = [
            str(c.get("meta", {}).get("subject") or (src[i] or f"{g}-{i}"))
            for i, c in enumerate(cs)
        ]
        entry = MemoryGroup(
            name=g,
            curves=cs,
            files=src,
            subjects=subj,
            metrics=sorted({str(c["metric"]) for c in cs}),
            time_units=sorted({str(c["time_unit"]) for c in cs}),
            horizons=[int(c["horizon"]) for c in cs],
            horizon_times=[float(c["horizon"]) * float(c["dt"]) for c in cs],
            capacities=[float(c["capacity"]) for c in cs],
            censored=[bool(c.get("meta", {}).get("horizon_censored", False)) for c in cs],
        )
        if len(entry.metrics) > 1:
            messages.append(
                f"memory group {g!r} mixes accuracy and R^2 curves; capacities are comparable "
                "(both normalised), raw scores are not."
            )
        if any(entry.censored):
            messages.append(
                f"memory group {g!r}: some curve is above the criterion at every lag, so its "
                "horizon is only a lower bound (max_lag + 1); measure with a larger max_lag."
            )
        groups[g] = entry

    subjects = {g: np.asarray(e.subjects) for g, e in groups.items()}
    estimates, tests = [], []
    for prop, key in (("horizon", "horizons"), ("capacity", "capacities")):
        est, tst = compare_values(
            prop,
            {g: np.asarray(getattr(e, key), float) for g, e in groups.items()},
            subjects,
            units={g: "steps" for g in groups},
            settings=st,
            rng=rng,
            messages=messages,
        )
        estimates += est
        tests += tst
    # horizon in time: only between groups that share their time unit
    one_unit = {g: e.time_units[0] for g, e in groups.items() if len(e.time_units) == 1}
    pairs = [(a, b) for a, b in combinations(one_unit, 2) if one_unit[a] == one_unit[b]]
    for a, b in combinations(groups, 2):
        if (a, b) not in pairs:
            messages.append(
                f"memory groups {a!r} and {b!r} are in different time units "
                f"({', '.join(groups[a].time_units)} vs {', '.join(groups[b].time_units)}): "
                "horizons are compared in samples (steps) only."
            )
    if one_unit:
        est, tst = compare_values(
            "horizon_time",
            {g: np.asarray(groups[g].horizon_times, float) for g in one_unit},
            subjects,
            units=one_unit,
            pairs=pairs,
            settings=st,
            rng=rng,
            messages=messages,
        )
        estimates += est
        tests += tst
    correct_fdr(tests, alpha)
    if len(groups) > 1 and not any(t.p_value is not None for t in tests):
        messages.append(
            "no memory test was run: comparing horizons needs at least 3 curves of "
            "different subjects per group."
        )
    return MemoryComparison(groups, estimates, tests, list(dict.fromkeys(messages)), st)
