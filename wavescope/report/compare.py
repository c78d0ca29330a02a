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
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.units import SPACE_UNITS, TIME_UNITS
from wavescope.core.validate import WaveInputError

__all__ = ["format_comparison", "read_metrics_jsonl", "run_comparison"]


def _check_out(path, overwrite: bool) -> Path:
    out = Path(path)
    if out.exists() and not overwrite:
        raise WaveInputError(f"{out} exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    return out


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
            raise WaveInputError(
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
        raise WaveInputError(f"{p}: no such metrics file (written by 'wavescope train').")
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
    _check_out(report, overwrite)
    _check_out(json_path, overwrite)

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
            "messages": messages,
            "report": os.fspath(report),
            "json": os.fspath(json_path),
        }
    )
    html = render_html(result, figs)
    for path, text in ((report, html), (json_path, json.dumps(result, indent=2))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
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
    return "\n".join(lines)
