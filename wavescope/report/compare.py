"""Group comparison report: measure every input, compare groups, write HTML and JSON.

:func:`run_comparison` is the engine of ``wavescope compare``: it reads recordings and
hidden-state captures, measures each with :func:`~wavescope.waves.measure_velocity`,
tabulates their properties with :func:`~wavescope.stats.properties.wave_properties`,
compares the groups with :func:`~wavescope.stats.compare.compare_groups`, draws the
figures and writes one self-contained HTML file and a JSON file holding every number in it.
"""

from __future__ import annotations

import glob
import json
import math
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.units import SPACE_UNITS, TIME_UNITS
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path, write_text_atomic

__all__ = [
    "format_comparison",
    "memory_comparison",
    "read_memory_curves",
    "read_metrics_jsonl",
    "run_comparison",
]


def _unit_class(field: WaveField) -> tuple[str, str]:
    """Units that convert into each other share a class (m and mm; s and ms)."""
    s = "physical" if SPACE_UNITS[field.space_unit] is not None else field.space_unit
    t = "physical" if TIME_UNITS[field.time_unit] is not None else field.time_unit
    return s, t


def _expand(group: str, items) -> list[tuple[str, str | None, WaveField]]:
    """``(name, source, field)`` for every input of a group (globs and epochs expanded)."""
    from wavescope.io import read_recording

    if isinstance(items, (WaveField, str, os.PathLike)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, WaveField):
            out.append((str(item.meta.get("name", f"{group}-{len(out)}")), None, item))
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise WaveTypeError(
                f"group {group!r}: input {item!r} is a {type(item).__name__}; give a WaveField "
                "or a path to a recording or .npz."
            )
        s = os.fspath(item)
        paths = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        if not paths:
            raise WaveInputError(f"group {group!r}: the pattern {s!r} matches no file.")
        for p in paths:
            f = read_recording(p)
            fields = f if isinstance(f, list) else [f]
            for i, fi in enumerate(fields):
                name = Path(p).name + (f"#{i}" if len(fields) > 1 else "")
                out.append((name, p, fi))
    if not out:
        raise WaveInputError(f"group {group!r} has no inputs.")
    return out


def read_metrics_jsonl(path) -> list[dict]:
    """The ``split="train"`` lines of a training ``metrics.jsonl`` (a file or run folder).

    Keys per line (see :mod:`wavescope.models.training`): ``step``, ``split``, ``loss``,
    ``char_acc``, ``exact_acc``, ``time``, ``lr``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    if not p.exists():
        raise WaveFileNotFoundError(f"{p}: no such metrics file (written by 'wavescope train').")
    recs = []
    for i, line in enumerate(p.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise WaveInputError(f"{p}, line {i + 1}: not JSON.") from None
        if r.get("split", "train") == "train" and "step" in r and "loss" in r:
            recs.append(r)
    if not recs:
        raise WaveInputError(f"{p} has no train lines with 'step' and 'loss'.")
    return recs


#: Keys a memory-curve summary (:meth:`wavescope.waves.memory.MemoryCurve.summary`) must have.
MEMORY_KEYS = (
    "lags",
    "score",
    "ci_low",
    "ci_high",
    "chance",
    "horizon",
    "capacity",
    "metric",
    "dt",
    "time_unit",
)


def _find_curves(obj, found: list, near: list) -> None:
    if isinstance(obj, dict):
        keys = set(obj)
        if set(MEMORY_KEYS) <= keys:
            found.append(obj)
            return
        if {"score", "horizon"} <= keys:
            near.append(sorted(set(MEMORY_KEYS) - keys))
        for v in obj.values():
            _find_curves(v, found, near)
    elif isinstance(obj, list):
        for v in obj:
            _find_curves(v, found, near)


def read_memory_curves(path) -> list[dict]:
    """Memory-curve summaries from a JSON file.

    The file is what ``wavescope memory --json`` or ``wavescope probe --memory-curve
    --json`` writes: one :meth:`~wavescope.waves.memory.MemoryCurve.summary` dict, or any
    JSON holding such dicts (a list of them, or nested under keys such as
    ``"memory_curve"``); every one found is returned, in file order.
    """
    p = Path(path)
    if not p.exists():
        raise WaveFileNotFoundError(
            f"{p}: no such memory-curve file (written by 'wavescope memory --json')."
        )
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WaveInputError(f"{p}: not a JSON file.") from None
    found, near = [], []
    _find_curves(obj, found, near)
    if not found:
        hint = f" (a curve-like entry lacks {near[0]})" if near else ""
        raise WaveInputError(
            f"{p} holds no memory curve{hint}: give the JSON written by 'wavescope memory "
            "--json' or 'wavescope probe --memory-curve --json' (MemoryCurve.summary())."
        )
    return found


def _curve_dict(item, group: str) -> list[tuple[str | None, dict]]:
    if hasattr(item, "summary") and hasattr(item, "horizon"):
        return [(None, item.summary())]
    if isinstance(item, dict):
        missing = [k for k in MEMORY_KEYS if k not in item]
        if missing:
            raise WaveInputError(
                f"memory group {group!r}: a curve dict lacks {missing}; pass "
                "MemoryCurve.summary() dicts."
            )
        return [(None, item)]
    if isinstance(item, (str, os.PathLike)):
        return [(os.fspath(item), c) for c in read_memory_curves(item)]
    raise WaveInputError(
        f"memory group {group!r}: {type(item).__name__} is not a curve file, dict or MemoryCurve."
    )


def _mean_ci(values, n_boot: int, level: float, seed: int):
    """Mean with a bootstrap interval (BCa from 3 values, percentile for 2)."""
    from wavescope.stats.tests import bootstrap_ci

    v = np.asarray(values, float)
    ci = bootstrap_ci(
        v,
        np.mean,
        n_boot=n_boot,
        level=level,
        method="bca" if v.size >= 3 else "percentile",
        seed=seed,
        min_n=2,
    )
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high}


def memory_comparison(
    memory: dict,
    *,
    n_permutations: int = 9999,
    n_boot: int = 2000,
    level: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Memory curves per group, their horizons and capacities, and group comparisons.

    Parameters
    ----------
    memory : dict
        ``{group: [curves]}``; a curve is a JSON file (see :func:`read_memory_curves`), a
        :meth:`~wavescope.waves.memory.MemoryCurve.summary` dict or a ``MemoryCurve``.
    n_permutations, n_boot, level, alpha, seed
        As in :func:`wavescope.stats.compare.compare_groups`.

    Returns
    -------
    dict
        ``groups``: per group ``n``, ``horizons`` (steps), ``horizon_times`` (time
        units), ``capacities`` (steps), ``metrics``, ``time_units``, ``censored`` and the
        ``curves`` (summaries, each with its ``file``); with 2 or more curves also
        ``horizon_mean``, ``horizon_time_mean`` and ``capacity_mean`` (each
        ``{"estimate", "low", "high"}``: the mean with a bootstrap interval at ``level``,
        BCa from 3 curves, percentile for 2). ``tests``: per pair of groups and property
        (``horizon``, ``capacity``; ``horizon_time`` when both groups share one time
        unit) a two-sided permutation test of the difference of means, Cliff's delta and
        Hedges' g with bootstrap intervals, Benjamini-Hochberg ``p_fdr`` across these
        tests, and a ``message`` when a group has fewer than 2 curves. ``messages`` and
        ``settings``. Missing values are None.
    """
    from itertools import combinations

    from wavescope.stats.tests import effect_size, fdr, permutation_test
    from wavescope.waves.memory import CI_LEVEL

    if not isinstance(memory, dict) or not memory:
        raise WaveInputError("memory must be a non-empty mapping {group: [curves]}.")
    rng = np.random.default_rng(seed)
    messages: list[str] = []
    groups: dict[str, dict] = {}
    for g, items in memory.items():
        g = str(g)
        items = [items] if isinstance(items, (str, os.PathLike, dict)) else list(items)
        pairs = [pc for it in items for pc in _curve_dict(it, g)]
        if not pairs:
            raise WaveInputError(f"memory group {g!r} has no curves.")
        curves = [{**c, "file": src} for src, c in pairs]
        hz = [int(c["horizon"]) for c in curves]
        ht = [float(c["horizon"]) * float(c["dt"]) for c in curves]
        cap = [float(c["capacity"]) for c in curves]
        entry = {
            "n": len(curves),
            "files": [c["file"] for c in curves],
            "metrics": sorted({str(c["metric"]) for c in curves}),
            "time_units": sorted({str(c["time_unit"]) for c in curves}),
            "horizons": hz,
            "horizon_times": ht,
            "capacities": cap,
            "censored": [bool(c.get("meta", {}).get("horizon_censored", False)) for c in curves],
            "horizon_mean": None,
            "horizon_time_mean": None,
            "capacity_mean": None,
            "message": None,
            "curves": curves,
        }
        if len(curves) >= 2:
            s = int(rng.integers(2**31))
            entry["horizon_mean"] = _mean_ci(hz, n_boot, level, s)
            if len(entry["time_units"]) == 1:
                entry["horizon_time_mean"] = _mean_ci(ht, n_boot, level, s)
            entry["capacity_mean"] = _mean_ci(cap, n_boot, level, s)
        else:
            entry["message"] = (
                f"group {g!r} has 1 memory curve: a mean with an interval, and a test, need at "
                "least 2 (add seeds, recordings or layers)."
            )
            messages.append(entry["message"])
        if len(entry["metrics"]) > 1:
            messages.append(
                f"memory group {g!r} mixes accuracy and R^2 curves; capacities are comparable "
                "(both normalised), raw scores are not."
            )
        if any(entry["censored"]):
            messages.append(
                f"memory group {g!r}: some curve is above the criterion at every lag, so its "
                "horizon is only a lower bound (max_lag + 1); measure with a larger max_lag."
            )
        groups[g] = entry

    tests = []
    for a, b in combinations(groups, 2):
        ga, gb = groups[a], groups[b]
        same_unit = len(set(ga["time_units"]) | set(gb["time_units"])) == 1
        props = [("horizon", "horizons", "steps"), ("capacity", "capacities", "steps")]
        if same_unit:
            props.append(("horizon_time", "horizon_times", ga["time_units"][0]))
        else:
            messages.append(
                f"memory groups {a!r} and {b!r} are in different time units "
                f"({', '.join(ga['time_units'])} vs {', '.join(gb['time_units'])}): horizons "
                "are compared in samples (steps) only."
            )
        for prop, key, unit in props:
            x1, x2 = np.asarray(ga[key], float), np.asarray(gb[key], float)
            t = {
                "property": prop,
                "group_a": a,
                "group_b": b,
                "unit": unit,
                "n_a": int(x1.size),
                "n_b": int(x2.size),
                "mean_a": float(x1.mean()),
                "mean_b": float(x2.mean()),
                "difference": None,
                "p_value": None,
                "p_fdr": None,
                "significant": None,
                "test": None,
                "min_p": None,
                "cliffs_delta": None,
                "hedges_g": None,
                "message": None,
            }
            if min(x1.size, x2.size) < 2:
                g_few = a if x1.size < 2 else b
                t["message"] = (
                    f"group {g_few!r} has 1 memory curve; the test {a} vs {b} needs at least 2 "
                    "per group."
                )
                tests.append(t)
                continue
            perm = permutation_test(x1, x2, "mean", n_permutations=n_permutations, seed=rng)
            t["difference"] = float(perm.statistic)
            t["p_value"] = float(perm.p_value)
            t["test"] = "permutation" + (" (exact)" if perm.exact else "")
            min_p = perm.min_p * (2 if perm.exact and x1.size == x2.size else 1)
            t["min_p"] = float(min_p)
            if min_p > alpha:
                t["message"] = (
                    f"with {x1.size} and {x2.size} curves the smallest possible p-value is "
                    f"{min_p:.3g} > alpha {alpha:g}: this test cannot reject."
                )
            s = int(rng.integers(2**31))
            for kind in ("cliffs_delta", "hedges_g"):
                try:
                    # 2 curves leave 1 in a jackknife sample (variance undefined) and a
                    # resample without spread has an infinite g: both are dropped quietly
                    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        e = effect_size(x1, x2, kind, level=level, n_boot=n_boot, seed=s)
                    d = {"estimate": e.estimate, "low": e.low, "high": e.high}
                    t[kind] = d if np.isfinite(e.estimate) else None
                except WaveInputError:
                    t[kind] = None
            tests.append(t)
    done = [t for t in tests if t["p_value"] is not None]
    if done:
        _, q = fdr([t["p_value"] for t in done], alpha=alpha)
        for t, qv in zip(done, q):
            t["p_fdr"] = float(qv)
            t["significant"] = bool(qv <= alpha)
    elif len(groups) > 1:
        messages.append(
            "no memory test was run: comparing horizons needs at least 2 curves per group."
        )
    return {
        "groups": groups,
        "tests": tests,
        "messages": list(dict.fromkeys(messages)),
        "settings": {
            "n_permutations": int(n_permutations),
            "n_boot": int(n_boot),
            "level": float(level),
            "alpha": float(alpha),
            "curve_interval_level": CI_LEVEL,
            "interval": "bootstrap of the mean over curves (BCa from 3 curves, percentile for 2)",
            "fdr": "Benjamini-Hochberg across the memory tests",
        },
    }


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def _per_sample(res, fld, dimensionless: bool):
    """Per-sample speeds (raw or in sites per cycle) and directions of a result."""
    from wavescope.stats.properties import site_spacing

    if res.broadband is not None and res.method in ("event-time", "xcorr", "komega"):
        sp = np.asarray(res.broadband.speeds, float)
        di = np.asarray(res.broadband.directions, float)
        if dimensionless:
            f_c = float(np.sqrt(res.band[0] * res.band[1])) if res.band[0] > 0 else res.band[1]
            sp = sp / (site_spacing(fld) * f_c)
    else:
        v = res.valid
        sp, di = res.speed[v], res.direction[v]
        if dimensionless:
            with np.errstate(divide="ignore", invalid="ignore"):
                sp = sp / (site_spacing(fld) * np.abs(res.frequency[v]))
    return sp, di


def _snapshot(res, fld):
    """Phase of every good site at the valid sample of highest PGD."""
    from wavescope.signal.spectral import analytic_signal

    pgd = np.where(res.valid, res.pgd, np.nan)
    i = int(np.nanargmax(pgd)) if np.isfinite(pgd).any() else 0
    s = int(res.index[i])
    half = int(2 * fld.fs / max(res.band[0], 1e-6)) if res.band else 64
    lo, hi = max(0, s - half), min(fld.n_times, s + half + 1)
    good = fld.good
    z = analytic_signal(fld.data[good, lo:hi], fld.fs, res.band)
    return fld.positions[good], np.angle(z[:, s - lo]), s / fld.fs, fld.time_unit, fld.space_unit


def run_comparison(
    groups: dict[str, list],
    *,
    report: str | Path,
    json_path: str | Path | None = None,
    band: tuple[float, float] | dict | None = None,
    method: str = "phase-gradient",
    metrics: dict[str, list[str | Path]] | None = None,
    memory: dict[str, list] | None = None,
    reference_speeds: str | Path | None = None,
    subjects: dict[str, list[str]] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Measure, compare and report groups of recordings or hidden-state captures.

    Parameters
    ----------
    groups : dict
        ``{group: [inputs]}``; an input is a :class:`~wavescope.core.field.WaveField`
        or a path (any file ``wavescope velocity`` reads: MNE formats or .npz, e.g. the
        .npz ``wavescope probe`` writes); globs are expanded, epoch files give one
        recording per epoch. Recordings in one group must share their units.
    report : path
        Output HTML (self-contained: figures embedded as base64 PNG, inline CSS).
    json_path : path, optional
        Output JSON (default: ``report`` with suffix ``.json``); it holds every number
        in the report.
    band : (lo, hi) or dict, optional
        Pass band in cycles per time unit, or ``{group: (lo, hi)}`` per group (groups
        left out use the automatic band). One band for groups with different time
        units (Hz against cycles/step) is refused.
    method : str
        Velocity method (see :data:`wavescope.waves.velocity.METHODS`).
    metrics : dict, optional
        ``{group: [metrics.jsonl files or run folders]}`` for learning curves.
    memory : dict, optional
        ``{group: [memory-curve JSON files, summary dicts or MemoryCurve objects]}``
        (what ``wavescope memory --json`` or ``wavescope probe --memory-curve --json``
        writes) for the memory-curve section (:func:`memory_comparison`); group names
        need not match those of ``groups``.
    reference_speeds : path, optional
        Reference speed density (``wolfie-speed_density.mat`` of Davis et al. 2021); groups
        in physical units are compared with it.
    subjects : dict, optional
        ``{group: [subject per input]}`` (animal, seed); repeated subjects add a
        mixed-effects model to the tests.
    overwrite : bool
        Replace existing output files.
    progress : bool
        Show a progress bar over the inputs.

    Returns
    -------
    dict
        Exactly the JSON written.
    """
    import pandas as pd
    from tqdm import tqdm

    from wavescope.report.html import render_html
    from wavescope.stats.compare import (
        _to_mps,
        compare_groups,
        compare_reference,
        load_reference_speeds,
    )
    from wavescope.stats.properties import wave_properties
    from wavescope.waves.velocity import METHODS, measure_velocity

    if not isinstance(groups, dict) or not groups:
        raise WaveInputError("groups must be a non-empty mapping {group: [inputs]}.")
    if method not in METHODS:
        raise WaveInputError(f"unknown method {method!r}; use one of {METHODS}.")
    report = Path(report)
    json_path = Path(json_path) if json_path is not None else report.with_suffix(".json")
    if report.suffix.lower() not in (".html", ".htm"):
        raise WaveInputError(f"the report {report} must be an .html file.")
    if json_path == report:
        raise WaveInputError("the JSON and the HTML report must be different files.")
    check_output_path(report, overwrite, make_parent=False)
    check_output_path(json_path, overwrite, make_parent=False)

    # ------------------------------------------------------------ inputs
    recs = []  # (group, name, source, subject, field)
    for g, items in groups.items():
        g = str(g)
        expanded = _expand(g, items)
        subj = None
        if subjects and g in subjects:
            subj = [str(s) for s in subjects[g]]
            if len(subj) != len(expanded):
                raise WaveInputError(
                    f"group {g!r}: {len(subj)} subjects for {len(expanded)} recordings."
                )
        classes = {_unit_class(f) for _, _, f in expanded}
        if len(classes) > 1:
            units = sorted({f.speed_unit for _, _, f in expanded})
            raise WaveInputError(
                f"group {g!r} mixes recordings in {units}: one group must share its units "
                "(put cortex and model states in separate groups)."
            )
        for i, (name, src, f) in enumerate(expanded):
            recs.append((g, name, src, subj[i] if subj else name, f))
    gnames = list(dict.fromkeys(r[0] for r in recs))
    gclass = {g: _unit_class(next(r[4] for r in recs if r[0] == g)) for g in gnames}
    if isinstance(band, dict):
        unknown = sorted(set(band) - set(gnames))
        if unknown:
            raise WaveInputError(f"band given for unknown group(s) {unknown}; groups: {gnames}.")
        bands = {g: (None if band.get(g) is None else tuple(band[g])) for g in gnames}
    else:
        tclasses = {c[1] for c in gclass.values()}
        if band is not None and len(tclasses) > 1:
            raise WaveInputError(
                "one band for groups with different time units (Hz against cycles/step) cannot "
                "fit both; give a band per group ({group: (lo, hi)}) or none (automatic)."
            )
        bands = {g: (None if band is None else tuple(band)) for g in gnames}
    mixed_units = len(set(gclass.values())) > 1

    # ------------------------------------------------------------ measure
    results = []
    for g, _, _, _, f in tqdm(recs, desc="measure", unit="rec", disable=not progress):
        results.append(measure_velocity(f, bands[g], method=method))
    parts = []
    for cls in dict.fromkeys(gclass.values()):
        idx = [i for i, r in enumerate(recs) if gclass[r[0]] == cls]
        parts.append(
            wave_properties(
                [(results[i], recs[i][4]) for i in idx],
                [recs[i][0] for i in idx],
                names=[recs[i][1] for i in idx],
                subjects=[recs[i][3] for i in idx],
            )
        )
    table = pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------ statistics
    stats = compare_groups(table, subject_col="subject")
    messages = list(stats["messages"])
    if mixed_units:
        messages.insert(
            0,
            "Groups come in different units ("
            + ", ".join(
                f"{g}: {table.loc[table.group == g, 'speed_median_unit'].iloc[0]}" for g in gnames
            )
            + "): they are compared on the dimensionless properties; raw properties only "
            "among groups sharing a unit.",
        )
    reference = None
    ref_obj = None
    if reference_speeds is not None:
        ref_obj = load_reference_speeds(reference_speeds)
        reference = {"distribution": ref_obj.summary(), "groups": []}
        for g in gnames:
            sub = table[table.group == g]
            unit = str(sub["speed_median_unit"].iloc[0])
            try:
                reference["groups"].append(
                    compare_reference(sub["speed_median"].to_numpy(), unit, ref_obj, group=g)
                )
            except WaveInputError as exc:
                messages.append(f"reference comparison skipped: {exc}")

    curves, learning = {}, {}
    for g, files in (metrics or {}).items():
        files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        runs, info = [], []
        for p in files:
            r = read_metrics_jsonl(p)
            label = Path(p).name if Path(p).is_dir() else (Path(p).parent.name or Path(p).name)
            runs.append((label, r))
            first95 = next((x["step"] for x in r if x.get("exact_acc", 0) >= 0.95), None)
            last = r[-1]
            info.append(
                {
                    "file": os.fspath(p),
                    "n_lines": len(r),
                    "final_step": last["step"],
                    "final_loss": last["loss"],
                    "final_char_acc": last.get("char_acc"),
                    "final_exact_acc": last.get("exact_acc"),
                    "steps_to_95_exact": first95,
                }
            )
        curves[str(g)], learning[str(g)] = runs, info
    mem = None
    if memory:
        st = stats["settings"]
        mem = memory_comparison(
            memory,
            n_permutations=st["n_permutations"],
            n_boot=st["n_boot"],
            level=st["level"],
            alpha=st["alpha"],
            seed=st["seed"],
        )

    # ------------------------------------------------------------ figures
    from wavescope.report import figures as F

    figs = []
    first = {g: next(i for i, r in enumerate(recs) if r[0] == g) for g in gnames}
    for g in gnames:
        i = first[g]
        figs.append(
            (
                f"Space-time plot of {recs[i][1]} ({g})",
                F.spacetime_png(recs[i][4], title=f"{g}: {recs[i][1]}"),
            )
        )
    figs.append(
        (
            "Phase maps at the most wave-like sample (highest PGD) of one recording per group",
            F.phase_snapshots_png(
                {g: _snapshot(results[first[g]], recs[first[g]][4]) for g in gnames}
            ),
        )
    )
    series = {g: [] for g in gnames}
    for (g, *_), res in zip(recs, results):
        series[g].append((res.times[res.valid], res.pgd[res.valid], res.threshold, res.time_unit))
    figs.append(("PGD over time (one line per recording)", F.pgd_time_png(series)))
    units = {g: table.loc[table.group == g, "speed_median_unit"].iloc[0] for g in gnames}
    dimless = len(set(units.values())) > 1
    rng = np.random.default_rng(0)
    speeds, dirs = {g: [] for g in gnames}, {g: [] for g in gnames}
    for (g, *_, f), res in zip(recs, results):
        sp, di = _per_sample(res, f, dimless)
        speeds[g].append(sp)
        dirs[g].append(di)
    speeds = {g: np.concatenate(v) for g, v in speeds.items()}
    dirs = {g: np.concatenate(v) for g, v in dirs.items()}
    speeds = {g: v if v.size <= 20000 else rng.choice(v, 20000, False) for g, v in speeds.items()}
    s_unit = "sites/cycle" if dimless else next(iter(units.values()))
    overlay = None
    if ref_obj is not None and s_unit == "m/s":
        overlay = (ref_obj.speed, ref_obj.density, "Davis et al. 2021 (marmoset MT)")
    figs.append(
        (
            "Speed distributions per group (per-sample speeds"
            + (", dimensionless: sites per oscillation cycle" if dimless else "")
            + (", with the reference density" if overlay else "")
            + ")",
            F.speed_png(speeds, s_unit, reference=overlay),
        )
    )
    phys = [g for g in gnames if _to_mps(results[first[g]].speed_unit) is not None]
    if ref_obj is not None and dimless and phys:
        raw = {}
        for (g, *_, f), res in zip(recs, results):
            if g in phys:
                sp, _ = _per_sample(res, f, False)
                raw.setdefault(g, []).append(sp * _to_mps(res.speed_unit))
        raw = {g: np.concatenate(v) for g, v in raw.items()}
        raw = {g: v if v.size <= 20000 else rng.choice(v, 20000, False) for g, v in raw.items()}
        figs.append(
            (
                "Speed distributions of the groups in physical units (m/s) with the reference "
                "density of Davis et al. 2021",
                F.speed_png(
                    raw,
                    "m/s",
                    reference=(ref_obj.speed, ref_obj.density, "Davis et al. 2021 (marmoset MT)"),
                ),
            )
        )
    figs.append(("Direction distributions per group (rad, CCW from +x)", F.direction_png(dirs)))
    props = [p for p in stats["properties"] if stats["properties"][p]["kind"] != "raw"]
    figs.append(
        (
            "Dimensionless properties, one point per recording",
            F.properties_png(
                {
                    p: {g: table.loc[table.group == g, p].to_numpy(float) for g in gnames}
                    for p in props
                },
                {p: str(table[p + "_unit"].iloc[0]) for p in props},
            ),
        )
    )
    if curves:
        figs.append(
            ("Learning curves (train lines of metrics.jsonl)", F.learning_curves_png(curves))
        )
    if mem is not None:
        figs.append(
            (
                "Memory curves: held-out decoding score of the input tau steps back against "
                "the lag, with the bootstrap band of each curve; dashed: chance; dotted: horizon",
                F.plot_memory_curves({g: e["curves"] for g, e in mem["groups"].items()}),
            )
        )

    # ------------------------------------------------------------ outputs
    from wavescope import __version__

    inputs = {
        g: [
            {
                "name": name,
                "source": src,
                "subject": subj,
                "space_unit": f.space_unit,
                "time_unit": f.time_unit,
                "n_sites": f.n_sites,
                "n_times": f.n_times,
                "fs": f.fs,
                "band": list(res.band) if res.band is not None else None,
            }
            for (gg, name, src, subj, f), res in zip(recs, results)
            if gg == g
        ]
        for g in gnames
    }
    result = _clean(
        {
            "wavescope_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "settings": {
                "method": method,
                "band": {g: list(b) if b else None for g, b in bands.items()},
                "units_mixed": mixed_units,
                "speed_figure_unit": s_unit,
                **stats["settings"],
            },
            "inputs": inputs,
            "groups": gnames,
            "units": units,
            "properties": stats["properties"],
            "recordings": table.to_dict("records"),
            "summaries": stats["summaries"],
            "tests": stats["tests"],
            "reference": reference,
            "learning_curves": learning or None,
            "memory": mem,
            "messages": messages,
            "report": os.fspath(report),
            "json": os.fspath(json_path),
        }
    )
    html = render_html(result, figs)
    for path, text in ((report, html), (json_path, json.dumps(result, indent=2))):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return result


def format_comparison(result: dict) -> str:
    """A short text table of the tests of a comparison result (for the CLI)."""
    lines = [f"{'property':<26} {'groups':<24} {'diff':>10} {'p':>8} {'p_fdr':>8}  effect"]
    for t in result["tests"]:
        pair = f"{t['group_a']} vs {t['group_b']}"
        if t["p_value"] is None:
            lines.append(f"{t['property']:<26} {pair:<24} {'':>10} {'n/a':>8} {'n/a':>8}  too few")
            continue
        eff = t.get("cliffs_delta") or t.get("circ_mean_difference")
        e = (
            ""
            if not eff
            else f"{'delta' if t.get('cliffs_delta') else 'dmean'} {eff['estimate']:.3g}"
        )
        star = " *" if t.get("significant") else ""
        lines.append(
            f"{t['property']:<26} {pair:<24} {t['difference']:>10.3g} {t['p_value']:>8.3g} "
            f"{t['p_fdr']:>8.3g}  {e}{star}"
        )
    for m in result["messages"]:
        lines.append(f"note: {m}")
    mem = result.get("memory")
    if mem:
        lines.append(
            f"{'memory group':<26} {'n':>3} {'horizons (steps)':<24} {'mean capacity':>14}"
        )
        for g, e in mem["groups"].items():
            hz = ", ".join(str(h) for h in e["horizons"][:8]) + (
                ", ..." if len(e["horizons"]) > 8 else ""
            )
            cap = sum(e["capacities"]) / len(e["capacities"])
            lines.append(f"{g:<26} {e['n']:>3} {hz:<24} {cap:>14.3g}")
        for t in mem["tests"]:
            if t["p_value"] is not None:
                lines.append(
                    f"memory {t['property']:<19} {t['group_a']} vs {t['group_b']}: difference "
                    f"{t['difference']:.3g} {t['unit']}, p {t['p_value']:.3g}, "
                    f"p_fdr {t['p_fdr']:.3g}"
                )
        for m in mem["messages"]:
            lines.append(f"note: {m}")
    return "\n".join(lines)
