"""Plain-text renderings for the terminal: a velocity summary, a table across recordings,
a comparison's tests and a memory curve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["as_cli", "format_comparison", "format_curve", "format_summary", "format_table", "rate"]

#: Python keyword arguments in library messages and the CLI flags that set them.
_CLI_FLAGS = {"picks": "--picks", "method": "--method", "band": "--band"}
_KWARG = re.compile(r"\b(picks|method|band)=(\[[^\]]*\]|\([^)]*\)|'[^']*'|\"[^\"]*\")")


def _flag_value(v: str) -> str:
    items = re.findall(r"'([^']*)'|\"([^\"]*)\"|([-+.\w]+)", v)
    vals = [a or b or c for a, b, c in items]
    return ",".join(vals) if not v.startswith("(") else " ".join(vals)


def as_cli(text: str) -> str:
    """A library message as the command line says it: ``picks=['seeg']`` becomes
    ``--picks seeg``, ``method='xcorr'`` becomes ``--method xcorr``."""
    return _KWARG.sub(lambda m: f"{_CLI_FLAGS[m[1]]} {_flag_value(m[2])}", str(text))


def rate(value: float, time_unit: str, fmt: str = "g") -> str:
    """A frequency or sampling rate with its unit: Hz per second, 1/step for models."""
    return f"{value:{fmt}} Hz" if time_unit == "s" else f"{value:{fmt}}/{time_unit}"


def _g(v, fmt=".3g"):
    return "n/a" if v is None else format(v, fmt)


def _direction_ci(ctx: dict, n_dims: int) -> str:
    """``; 90% CI ...`` of a broadband route's direction interval, where it has one."""
    dv = ctx.get("direction_interval")
    if not dv:
        return ""
    level = f"{100 * dv['level']:.0f}% CI"
    if n_dims == 1:
        lo, hi = dv["low_rad"], dv["high_rad"]
        way = ("forward" if lo == 0 else "backward") if lo == hi else "either way"
        support = dv.get("support")
        return f"; {level} {way}" + (f", {support:.0%} of draws" if support is not None else "")
    return f"; {level} {np.degrees(dv['low_rad']):.1f}-{np.degrees(dv['high_rad']):.1f} deg"


def format_summary(s) -> str:
    """A short human-readable rendering of a recording's typed summary (a
    :class:`~wavescope.waves.summary.RecordingSummary`)."""
    ctx = s.context
    hz = "Hz" if s.time_unit == "s" else f"/{s.time_unit}"
    band = "auto" if s.band is None else f"{s.band[0]:.3g}-{s.band[1]:.3g} {hz}".replace(" /", "/")
    lines = [
        f"method       {s.method}   band {band}   "
        f"sites {s.n_good_sites}/{s.n_sites}   fs {rate(s.fs, s.time_unit)}",
    ]
    if ctx.get("band_source") not in (None, "given", "automatic (spectral peak)"):
        lines.append(f"band from    {ctx['band_source']}")
    lines += [
        f"speed        {_g(s.speed_median)} {s.speed_unit}  "
        + (f"(90% CI {_g(s.speed_low)}-{_g(s.speed_high)}; " if s.speed_low is not None else "(")
        + f"IQR {_g(s.speed_q25)}-{_g(s.speed_q75)})"
        + (f"  [{s.speed_selection}]" if s.speed_selection else ""),
    ]
    if s.n_dims == 1:
        lines.append(
            f"direction    {s.majority or 'n/a'} along the line  (forward fraction "
            f"{_g(s.forward_fraction, '.2f')}{_direction_ci(ctx, 1)})"
        )
    else:
        lines.append(
            f"direction    {_g(s.direction_deg, '.1f')} deg CCW from +x  "
            f"(concentration R = {_g(s.direction_concentration, '.2f')}{_direction_ci(ctx, 2)})"
        )
    waves = (
        f"{100 * s.wave_fraction:.1f}% of the time in {s.n_epochs} epoch(s)"
        if s.wave_fraction is not None
        else f"n/a ({s.undefined.get('wave_fraction', 'undefined')})"
    )
    lines += [
        f"wavelength   {_g(s.wavelength_median)} {s.space_unit}",
        f"PGD          median {_g(s.pgd_median, '.2f')}  "
        f"(epoch threshold {_g(s.pgd_threshold, '.2f')} at alpha {s.alpha:g})",
        f"waves        {waves}",
    ]
    if s.patterns is not None:
        pats = ", ".join(f"{k} {100 * v:.0f}%" for k, v in s.patterns.items() if v > 0)
        # the classes describe each sample's phase map; a planar map is a wave only where
        # its direction also persists (the wave fraction above)
        lines.append(f"patterns     {pats}  (phase maps of all samples)")
    cc = ctx.get("cross_check")
    if cc:
        verdict = {True: "agrees", False: "DISAGREES", None: "nothing to compare"}[cc["agree"]]
        rel = cc.get("relative_difference")
        lines.append(
            f"cross-check  {cc['method']}: {_g(cc['speed'])} {s.speed_unit} ({verdict}"
            + (f": {rel:+.1%})" if rel is not None else ")")
            + (
                f"; next: run with --method {cc['method']} and compare, or narrow --band "
                "around the spectral peak"
                if cc["agree"] is False
                else ""
            )
        )
    for note in dict.fromkeys(s.warnings):
        lines.append(f"warning      {as_cli(note)}")
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    """The summary table across recordings as aligned text."""

    def g(v, fmt=".3g"):
        return "-" if v is None or v == "" else format(v, fmt)

    head = ("recording", "speed", "unit", "direction", "wavelength", "PGD", "waves %", "status")
    lines = [head]
    for r in rows:
        if r["ok"]:
            lines.append(
                (
                    Path(r["input"]).name,
                    g(r["speed_median"]),
                    r["speed_unit"],
                    _direction_cell(r),
                    g(r["wavelength_median"]),
                    g(r["pgd_median"], ".2f"),
                    g(None if r["wave_fraction"] is None else 100 * r["wave_fraction"], ".1f"),
                    "ok",
                )
            )
        else:
            lines.append((Path(r["input"]).name, "-", "-", "-", "-", "-", "-", "FAILED"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines)


def _direction_cell(r: dict) -> str:
    """Degrees on a surface; on a line the forward fraction (never a circular mean)."""
    if r.get("forward_fraction") is not None:
        return f"fwd {r['forward_fraction']:.2f}"
    return "-" if r.get("direction_deg") is None else f"{r['direction_deg']:.1f} deg"


def format_comparison(result) -> str:
    """A short text table of a comparison's tests, estimates and notes (for the CLI)."""
    st = result.stats
    lines = [f"subjects: {result.subject_note}", ""] if result.subject_note else []
    lines.append(f"{'property':<26} {'groups':<26} {'diff':>10} {'p':>8} {'p_fdr':>8}  effect")
    run = [t for t in st.tests if t.p_value is not None]
    for t in run:
        pair = f"{t.group_a} vs {t.group_b}"
        eff = t.cliffs_delta or t.circ_mean_difference
        e = "" if not eff else f"{'delta' if t.cliffs_delta else 'dmean'} {eff.estimate:.3g}"
        star = " *" if t.significant else ""
        lines.append(
            f"{t.property:<26} {pair:<26} {t.difference:>10.3g} {t.p_value:>8.3g} "
            f"{t.p_fdr:>8.3g}  {e}{star}"
        )
    if not run:
        lines.append("(no test run: too few subjects per group; estimates below)")
    lines.append(f"{'estimate':<26} {'group':<26} {'value':>10} {'CI':>19}")
    for x in st.summaries:
        if x.estimate is not None and x.property in ("pgd_median", "wave_fraction", "speed_median"):
            lines.append(
                f"{x.property:<26} {x.group:<26} {x.estimate:>10.3g} "
                f"{x.low:>9.3g}-{x.high:<9.3g} {x.unit}"
            )
    mem = result.memory
    if mem is not None:
        lines.append(f"{'memory group':<26} {'n':>3} {'horizons (steps)':<24} {'capacities':<20}")
        for g, e in mem.groups.items():
            hz = ", ".join(str(h) for h in e.horizons[:8]) + (", ..." if e.n > 8 else "")
            cap = ", ".join(f"{c:.3g}" for c in e.capacities[:6])
            lines.append(f"{g:<26} {e.n:>3} {hz:<24} {cap:<20}")
    from wavescope.report.findings import condensed_notes

    for m in dict.fromkeys(condensed_notes(result.messages, result.stats.n_subjects)):
        lines.append(f"note: {m}")
    return "\n".join(lines)


def format_curve(s: dict, n_rows: int = 14) -> str:
    """Horizon, capacity and a short table of a MemoryCurve summary."""
    unit = s["time_unit"]
    cens = " (every lag above: a lower bound)" if s["meta"].get("horizon_censored") else ""
    lines = [
        f"metric     {s['metric']} ({s['meta'].get('input_kind')}), decoder {s['decoder']}, "
        f"{s['n_splits']} folds over {s['n_sequences']} {s['meta'].get('groups', 'groups')}",
        f"chance     {s['chance']:.4g}   criterion: chance + {s['meta']['criterion_se']:g} SE",
        f"horizon    {s['horizon']} steps = {s['horizon_time']:.4g} {unit}{cens}",
        f"reach      {s.get('reach', s['horizon'])} steps (last lag above the criterion + 1, "
        "gaps allowed)",
        f"capacity   {s['capacity']:.4g} steps",
        f"{'lag':>5} {'time':>9} {'score':>8} {'CI low':>8} {'CI high':>8} {'crit.':>8}  above",
    ]
    n = len(s["lags"])
    idx = set(np.unique(np.linspace(0, n - 1, min(n, n_rows)).round().astype(int)).tolist())
    idx |= {i for i in (s["horizon"] - 1, s["horizon"]) if 0 <= i < n}
    for i in sorted(idx):
        lines.append(
            f"{s['lags'][i]:>5} {s['lags'][i] * s['dt']:>9.4g} {s['score'][i]:>8.4f} "
            f"{s['ci_low'][i]:>8.4f} {s['ci_high'][i]:>8.4f} {s['criterion'][i]:>8.4f}  "
            f"{'yes' if s['above'][i] else 'no'}"
        )
    return "\n".join(lines)


def format_calibration(result) -> str:
    """A :class:`~wavescope.pipelines.calibrate.CalibrationResult` as text: the background
    the simulations reproduced, then one line per simulated speed."""
    bg = result.background
    unit = result.speed_unit
    snr = "none found" if bg.snr_db is None else f"{bg.snr_db:.1f} dB"
    lines = [
        f"background: 1/f^{bg.exponent:.2f}, correlated over {bg.length:.3g} "
        f"{result.space_unit} (unshared {bg.white_fraction:.0%}); oscillation at "
        f"{bg.frequency:.3g} {result.frequency_unit}, in-band SNR {snr} "
        f"(simulated at {result.snr_db_used:.1f} dB)",
        "recording's own speed: "
        + (
            "none printed"
            if result.recording_speed is None
            else f"{result.recording_speed:.3g} {unit}"
        ),
        "true speed         wavelength  printed  median error (IQR)        within 15%  direction",
    ]
    for r in result.speeds:
        err = (
            "-"
            if r.median_error is None
            else f"{100 * r.median_error:+.1f}% ({100 * r.error_iqr[0]:+.1f} to "
            f"{100 * r.error_iqr[1]:+.1f})"
        )
        d = (
            "-"
            if r.median_direction_error_deg is None
            else f"{r.median_direction_error_deg:.1f} deg"
        )
        lines.append(
            f"{r.speed:<10.3g} {unit:<7} {r.wavelength_extents:>5g} ext  {r.printed:>6.0%}  "
            f"{err:<26} {r.within_15:>9.0%}  {d}"
        )
    return "\n".join(lines)
