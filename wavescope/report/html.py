"""One self-contained HTML comparison report: inline CSS, figures as base64 PNG, no
external resources. Every number shown comes from the result dict (the JSON) through
:func:`fmt`."""

from __future__ import annotations

import base64
import html as _html

__all__ = ["fmt", "render_html"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}
tr.sig td{background:#eef7ee}.note{color:#8a4b00}figure{margin:1em 0}
figcaption{font-size:.9em;color:#555}img{max-width:100%}code{background:#f5f5f5;padding:0 .2em}
"""

PROPERTY_TEXT = {
    "pgd_median": "median phase gradient directionality (PGD: how well one plane wave "
    "explains the phase map; 1 = perfectly planar, near 0 = no common direction)",
    "wave_fraction": "fraction of the valid samples inside wave epochs (PGD above the "
    "threshold of phase-randomised surrogates)",
    "direction_concentration": "resultant length of the per-sample directions "
    "(1 = always the same direction, 0 = uniform)",
    "direction_mean": "circular mean direction of propagation, radians counter-clockwise from +x",
    "wavelength_per_extent": "median wavelength divided by the array extent (largest "
    "distance between good sites)",
    "speed_sites_per_cycle": "distance a wave crest travels in one oscillation period, in "
    "site spacings (speed / (spacing x frequency))",
    "speed_median": "median phase speed (raw unit)",
    "wavelength_median": "median wavelength (raw unit)",
    "frequency_median": "median instantaneous frequency (raw unit)",
}


def fmt(v) -> str:
    """How every number is shown: integers as they are, floats to 4 significant digits."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return format(float(v), ".4g")


def _e(s) -> str:
    return _html.escape(str(s))


def _table(header, rows, row_classes=None) -> str:
    out = ["<table><tr>"]
    out += [
        f'<th class="l">{_e(h)}</th>' if i == 0 else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    ]
    out.append("</tr>")
    for k, r in enumerate(rows):
        cls = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        out.append(f"<tr{cls}>")
        for c in r:
            if isinstance(c, (int, float)) or c is None:
                out.append(f"<td>{fmt(c)}</td>")
            else:
                out.append(f'<td class="l">{_e(c)}</td>')
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _ci(d):
    return (None, None, None) if not d else (d.get("estimate"), d.get("low"), d.get("high"))


def render_html(result: dict, figures: list[tuple[str, bytes]]) -> str:
    """The report as an HTML string.

    Parameters
    ----------
    result : dict
        The JSON of :func:`wavescope.report.compare.run_comparison`.
    figures : list of (caption, PNG bytes)
    """
    s = result["settings"]
    level = s.get("level", 0.95)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>wavescope comparison: " + _e(", ".join(result["groups"])) + "</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Traveling-wave comparison: " + _e(" / ".join(result["groups"])) + "</h1>",
        f"<p>wavescope {_e(result['wavescope_version'])}, written {_e(result['created'])}. "
        "Every number below is also in the JSON file "
        f"<code>{_e(result.get('json', ''))}</code>.</p>",
    ]
    # ---------------------------------------------------------------- inputs
    parts.append("<h2>Inputs and settings</h2>")
    rows = []
    for g, recs in result["inputs"].items():
        for r in recs:
            band = r["band"] or [None, None]
            rows.append(
                [
                    g,
                    r["name"],
                    r["subject"],
                    r["n_sites"],
                    r["n_times"],
                    r["fs"],
                    band[0],
                    band[1],
                    f"{r['space_unit']}, {r['time_unit']}",
                ]
            )
    parts.append(
        _table(
            [
                "group",
                "recording",
                "subject",
                "sites",
                "samples",
                "fs",
                "band lo",
                "band hi",
                "units",
            ],
            rows,
        )
    )
    parts.append(
        f"<p>Velocity method <code>{_e(s['method'])}</code>; bands in cycles per time unit "
        "(automatic around the dominant spectral peak where not given). "
        f"Permutations: {fmt(s['n_permutations'])}; bootstrap resamples: {fmt(s['n_boot'])}; "
        f"confidence level {fmt(level)}; false-discovery rate {fmt(s['alpha'])}; at least "
        f"{fmt(s['min_n'])} recordings per group for an interval or a test.</p>"
    )
    # ---------------------------------------------------------------- methods
    parts.append(
        "<h2>Methods</h2><p>Each recording (or hidden-state capture) is band-passed, "
        "its analytic phase measured at every site, and a plane wave fitted to the "
        "phase map at every read-out sample, giving the speed, direction, wavelength "
        "and PGD of that sample. Each recording is then summarised by one value per "
        "property, so that recordings, not samples, are the units of analysis "
        "(samples within a recording are strongly correlated).</p><ul>"
    )
    for p, info in result["properties"].items():
        units = ", ".join(f"{g}: {u}" for g, u in info["units"].items())
        parts.append(
            f"<li><code>{_e(p)}</code> ({_e(info['kind'])}; unit {_e(units)}): "
            f"{_e(PROPERTY_TEXT.get(p, p))}.</li>"
        )
    parts.append(
        "</ul><p>Per group, the estimate is the median over recordings (the circular mean "
        f"for directions) with a bootstrap interval at confidence level {fmt(level)} "
        "(bias-corrected and "
        "accelerated; for directions a percentile interval of the wrapped deviations). "
        "Each pair of groups is compared with a two-sided permutation test of the difference "
        "of means (all relabellings enumerated when there are fewer than the permutation "
        "count; of the circular mean difference for directions). Effect sizes: Cliff's delta "
        "(P(a &gt; b) - P(a &lt; b), rank-based, in [-1, 1]) and Hedges' g (standardised "
        "mean difference with the small-sample correction), each with a bootstrap interval; "
        "for directions, the difference of circular means in radians. When a subject (animal, "
        "seed) contributes several recordings, a random-intercept mixed-effects model "
        "(property ~ group + (1 | subject), REML, t reference with between-subject degrees of "
        "freedom) replaces the permutation p-value. The p-values of all property x pair tests "
        "are corrected together with the Benjamini-Hochberg procedure; p (FDR) is the "
        "adjusted value and a row is marked when it is at most the false-discovery rate. "
        "Cortex (m/s) and model hidden states (sites/step) are compared only on the "
        "dimensionless properties; raw properties (speed, wavelength, frequency) only among "
        "groups that share a unit.</p>"
    )
    # ---------------------------------------------------------------- notes
    if result["messages"]:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f'<li class="note">{_e(m)}</li>' for m in result["messages"]]
        parts.append("</ul>")
    # ---------------------------------------------------------------- estimates
    parts.append("<h2>Estimates per group</h2>")
    rows = [
        [
            x["property"],
            x["group"],
            x["n"],
            x["estimate"],
            x["low"],
            x["high"],
            x["unit"],
            x["message"] or "",
        ]
        for x in result["summaries"]
    ]
    parts.append(
        _table(["property", "group", "n", "estimate", "CI low", "CI high", "unit", "note"], rows)
    )
    # ---------------------------------------------------------------- tests
    parts.append("<h2>Group comparisons</h2>")
    rows, cls = [], []
    for t in result["tests"]:
        eff = t["cliffs_delta"] or {}
        g = t["hedges_g"] or {}
        cm = t["circ_mean_difference"] or {}
        mixed = t["mixed"] or {}
        rows.append(
            [
                t["property"],
                f"{t['group_a']} vs {t['group_b']}",
                t["n_a"],
                t["n_b"],
                t["difference"],
                t["p_permutation"],
                mixed.get("p_value"),
                t["p_value"],
                t["p_fdr"],
                *_ci(eff),
                *_ci(g),
                *_ci(cm),
                t["message"] or "",
            ]
        )
        cls.append("sig" if t["significant"] else "")
    parts.append(
        _table(
            [
                "property",
                "pair",
                "n a",
                "n b",
                "difference a-b",
                "p perm.",
                "p mixed",
                "p raw",
                "p (FDR)",
                "Cliff's delta",
                "low",
                "high",
                "Hedges' g",
                "low",
                "high",
                "circ. mean diff (rad)",
                "low",
                "high",
                "note",
            ],
            rows,
            cls,
        )
    )
    # ---------------------------------------------------------------- reference
    ref = result.get("reference")
    if ref:
        d = ref["distribution"]
        parts.append(
            "<h2>Comparison with the published speed distribution</h2><p>Reference: "
            f"{_e(d['citation'])} Marmoset area MT, Utah array; density of measured wave "
            f"speeds from <code>{_e(d['source'])}</code>: mode {fmt(d['mode'])} m/s, median "
            f"{fmt(d['median'])} m/s, interquartile range {fmt(d['q25'])}-{fmt(d['q75'])} m/s. "
            "Each group's per-recording median speeds (physical units only) are compared with "
            "it by a one-sample Kolmogorov-Smirnov test and by a sign test of the group "
            "median against the reference median.</p>"
        )
        rows = [
            [
                r["group"],
                r["n"],
                r["group_median"],
                r["reference_percentile"],
                r["ks_statistic"],
                r["ks_p"],
                r["n_above"],
                r["sign_p"],
                r["message"] or "",
            ]
            for r in ref["groups"]
        ]
        parts.append(
            _table(
                [
                    "group",
                    "n",
                    "median (m/s)",
                    "reference percentile",
                    "KS D",
                    "KS p",
                    "above ref. median",
                    "sign-test p",
                    "note",
                ],
                rows,
            )
        )
    # ---------------------------------------------------------------- learning
    lc = result.get("learning_curves")
    if lc:
        parts.append("<h2>Training</h2>")
        rows = [
            [
                g,
                r["file"],
                r["n_lines"],
                r["final_step"],
                r["final_loss"],
                r["final_char_acc"],
                r["final_exact_acc"],
                r["steps_to_95_exact"],
            ]
            for g, runs in lc.items()
            for r in runs
        ]
        parts.append(
            _table(
                [
                    "group",
                    "metrics",
                    "lines",
                    "last step",
                    "loss",
                    "char acc",
                    "exact acc",
                    "steps to 95% exact",
                ],
                rows,
            )
        )
    # ---------------------------------------------------------------- memory
    if result.get("memory"):
        parts.append(_memory_section(result["memory"]))
    # ---------------------------------------------------------------- figures
    parts.append("<h2>Figures</h2>")
    for caption, png in figures:
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _memory_section(mem: dict) -> str:
    """The "Memory curves" section: methods, curves, group means and tests."""
    st = mem["settings"]
    out = [
        "<h2>Memory curves</h2><p>A memory curve measures how much of its recent input a "
        "state holds: from the state at each snapshot time t (a layer's hidden state, or the "
        "sites of a recording) a cross-validated linear decoder (ridge classifier or "
        "regression, or logistic regression) reads out the input presented tau steps "
        "earlier, for tau = 0 up to the largest lag, trained and scored on different "
        "sequences (or contiguous time blocks of one recording, with a purge around the "
        "held-out blocks). The score is the held-out accuracy (tokens) or R<sup>2</sup> "
        "(real values) per lag, with a bootstrap interval over the held-out sequences "
        f"or blocks at level {fmt(st['curve_interval_level'])}. A lag holds memory when its "
        "score exceeds chance (the majority-class "
        "rate; 0 for R<sup>2</sup>) plus the curve's criterion multiple of its standard "
        "error (<code>meta.criterion_se</code> in the JSON). The <b>horizon</b> is the "
        "number of consecutive lags from 0 that hold memory (an N-site shift register: "
        "N steps); the <b>capacity</b> is the sum over lags of the score normalised to "
        "[0, 1] above chance and clipped at 0, in steps (the short-term memory capacity of "
        "Jaeger 2001). A horizon marked as a lower bound had every lag above the criterion.</p>"
    ]
    rows = []
    for g, e in mem["groups"].items():
        for i, c in enumerate(e["curves"]):
            rows.append(
                [
                    g,
                    c["file"] or f"#{i}",
                    c["metric"],
                    c.get("decoder", ""),
                    c["lags"][-1],
                    c["chance"],
                    c["horizon"],
                    e["horizon_times"][i],
                    c["time_unit"],
                    c["capacity"],
                    c.get("n_sequences"),
                    c.get("n_splits"),
                    "lower bound" if e["censored"][i] else "",
                ]
            )
    out.append(
        _table(
            [
                "group",
                "curve",
                "metric",
                "decoder",
                "max lag",
                "chance",
                "horizon (steps)",
                "horizon (time)",
                "time unit",
                "capacity (steps)",
                "sequences / blocks",
                "folds",
                "horizon is",
            ],
            rows,
        )
    )
    rows = []
    for g, e in mem["groups"].items():
        rows.append(
            [
                g,
                e["n"],
                ", ".join(e["metrics"]),
                *_ci(e["horizon_mean"]),
                *_ci(e["horizon_time_mean"]),
                ", ".join(e["time_units"]),
                *_ci(e["capacity_mean"]),
                e["message"] or "",
            ]
        )
    out.append(
        f"<p>Per group: the mean over curves with a bootstrap interval at level "
        f"{fmt(st['level'])} ({_e(st['interval'])}; {fmt(st['n_boot'])} resamples).</p>"
    )
    out.append(
        _table(
            [
                "group",
                "curves",
                "metric",
                "mean horizon (steps)",
                "low",
                "high",
                "mean horizon (time)",
                "low",
                "high",
                "time unit",
                "mean capacity (steps)",
                "low",
                "high",
                "note",
            ],
            rows,
        )
    )
    if mem["tests"]:
        out.append(
            "<p>Between groups: a two-sided permutation test of the difference of means "
            f"({fmt(st['n_permutations'])} relabellings, or all of them when fewer), Cliff's "
            "delta and Hedges' g with bootstrap intervals, and the Benjamini-Hochberg "
            f"correction across these tests at false-discovery rate {fmt(st['alpha'])}.</p>"
        )
        rows, cls = [], []
        for t in mem["tests"]:
            rows.append(
                [
                    t["property"],
                    f"{t['group_a']} vs {t['group_b']}",
                    t["n_a"],
                    t["n_b"],
                    t["mean_a"],
                    t["mean_b"],
                    t["difference"],
                    t["unit"],
                    t["p_value"],
                    t["p_fdr"],
                    *_ci(t["cliffs_delta"]),
                    *_ci(t["hedges_g"]),
                    t["message"] or "",
                ]
            )
            cls.append("sig" if t["significant"] else "")
        out.append(
            _table(
                [
                    "property",
                    "pair",
                    "n a",
                    "n b",
                    "mean a",
                    "mean b",
                    "difference a-b",
                    "unit",
                    "p perm.",
                    "p (FDR)",
                    "Cliff's delta",
                    "low",
                    "high",
                    "Hedges' g",
                    "low",
                    "high",
                    "note",
                ],
                rows,
                cls,
            )
        )
    if mem["messages"]:
        out.append("<ul>" + "".join(f'<li class="note">{_e(m)}</li>' for m in mem["messages"]))
        out.append("</ul>")
    return "\n".join(out)
