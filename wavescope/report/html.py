"""The comparison report: one self-contained HTML page that reads like a results section.

:func:`render_comparison` takes a :class:`~wavescope.pipelines.compare.ComparisonResult`
and returns the page: the findings first, each in plain sentences with numbers and
intervals next to the figure that shows it (what travels, how fast, which way, how far
back each state remembers, how fast each model learned, what differs between groups),
then the details (methods, notes, tables that scroll within the page, inputs). Inline CSS,
figures embedded as base64 PNG (the phase-map animation as GIF), no external resources.
Every number comes from the result's fields (also in its JSON) through :func:`fmt`.
"""

from __future__ import annotations

import base64
import html as _html
from pathlib import Path

import numpy as np

from wavescope.core.properties import PROPERTIES
from wavescope.report import figures as F
from wavescope.report import findings as W

__all__ = ["fmt", "render_comparison"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;
max-width:1180px;color:#222;line-height:1.5;padding:0 1.2em}
h1{font-size:1.55em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}h3{margin:.2em 0 .4em;font-size:1.08em}
.meta{color:#555;font-size:.9em}
.finding{display:grid;grid-template-columns:minmax(260px,1fr) 760px;gap:1.2em;align-items:start;
border-top:1px solid #eee;padding:1em 0}
.finding p{margin:.3em 0}.finding figure{margin:0}
@media (max-width:1100px){.finding{grid-template-columns:1fr}}
.scroll{overflow-x:auto;max-width:100%;margin:.6em 0}
table{border-collapse:collapse;font-size:.84em}
th,td{border:1px solid #ccc;padding:.22em .5em;text-align:right;white-space:nowrap}
th,td.l{white-space:normal;overflow-wrap:break-word;max-width:22em}
.abstract{background:#f6f8fa;border-left:4px solid #4a7;padding:.5em 1em}
.sim{background:#fff4e0;border-left:4px solid #e90;padding:.4em 1em}
th{background:#f2f2f2;position:sticky;top:0}td.l,th.l{text-align:left}
tr.sig td{background:#eef7ee}.note{color:#8a4b00}
figcaption{font-size:.86em;color:#555;margin-top:.2em}img{max-width:100%;height:auto}
code{background:#f5f5f5;padding:0 .2em}details{margin:.6em 0}summary{cursor:pointer}
"""


def fmt(v) -> str:
    """How every number in a table is shown: integers as they are, floats to 4 digits."""
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "&ndash;" if not np.isfinite(v) else format(v, ".4g")


def _e(s) -> str:
    return _html.escape(str(s))


def _table(header, rows, row_classes=None) -> str:
    out = ['<div class="scroll"><table><tr>']
    out += [
        f'<th class="l">{_e(h)}</th>' if i == 0 else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    ]
    out.append("</tr>")
    for k, r in enumerate(rows):
        cls = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        out.append(f"<tr{cls}>")
        for c in r:
            if isinstance(c, (int, float, np.integer, np.floating)) or c is None:
                out.append(f"<td>{fmt(c)}</td>")
            else:
                out.append(f'<td class="l">{_e(c)}</td>')
        out.append("</tr>")
    out.append("</table></div>")
    return "".join(out)


def _img(data: bytes, caption: str, mime: str = "image/png") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:{mime};base64,{b64}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _fig(fig, caption: str, dpi: int = F.REPORT_DPI) -> str:
    return _img(F.save_figure(fig, "png", dpi=dpi), caption)


def _look(result) -> dict:
    """What every figure shares: one colour and one label per group."""
    groups = list(result.groups)
    groups += [r.group for r in result.learning if r.group not in groups]
    if result.memory is not None:
        groups += [g for g in result.memory.groups if g not in groups]
    return {
        "colours": F.group_colours(groups),
        "labels": {g: W.label(result, g) for g in groups},
    }


def _finding(title: str, sentences: list[str], figure_html: str) -> str:
    text = "".join(f"<p>{_e(s)}</p>" for s in sentences)
    return (
        f'<div class="finding"><div><h3>{_e(title)}</h3>{text}</div><div>{figure_html}</div></div>'
    )


def _units(result) -> dict:
    return {i.group: (i.space_unit, i.time_unit) for i in result.inputs}


def _findings(result) -> list[str]:
    figs = result.figures
    look = _look(result)
    parts = ["<h2>Findings</h2>"]
    # what travels: space-time plots of lines, phase maps with velocity fields of surfaces
    visual = []
    lines = {g: v for g, v in figs.spacetime.items() if v[0].n_dims == 1}
    if lines:
        visual.append(
            _fig(
                F.spacetime_panels(lines, look["labels"]),
                "Space-time plots (state index against step, impulse response) with the "
                "measured speed (dashed) and, for v-Wave, the learned velocity (dotted).",
            )
        )
    if figs.snapshots:
        visual.append(
            _fig(
                F.phase_map_figure(figs.snapshots, _units(result), look["labels"]),
                "Phase maps at each group's most wave-like sample (highest PGD); arrows: "
                "local direction of propagation (phase-velocity field) on 2-D layouts. On "
                "lines, the phase over the samples around it as a space-time image (the "
                "sample is dotted): a travelling wave draws slanted stripes.",
            )
        )
    anim = [(g, s) for g, s in figs.snapshots.items() if s.positions.shape[1] == 2]
    if anim:
        g, snap = anim[0]
        su, tu = _units(result).get(g, ("", ""))
        visual.append(
            _img(
                F.phase_animation(snap, space_unit=su, time_unit=tu, title=g),
                f"{g}: the phase map over the wave epoch around its most wave-like sample "
                f"({snap.phase.shape[1]} read-out samples, looping).",
                "image/gif",
            )
        )
    parts.append(_finding("What travels", W.what_travels(result), "".join(visual)))
    ref = result.reference
    overlay = (
        None if ref is None or figs.speed_unit != "m/s" else (ref.speed, ref.density, ref.label)
    )
    left = figs.speeds_left_out
    left_txt = (
        " Not drawn (speeds from fewer than 3 recordings): "
        + ", ".join(f"{look['labels'][g]} ({n})" for g, n in left.items())
        + "."
        if left
        else ""
    )
    drawn = {g: v for g, v in figs.speeds.items() if g not in left}
    speed_figs = [
        _fig(
            F.speed_figure(drawn, figs.speed_unit, reference=overlay, **look),
            "Speed distributions per group"
            + (
                " in site spacings per oscillation cycle (units differ)"
                if figs.speed_unit == "sites/cycle"
                else f" ({figs.speed_unit})"
            )  # fmt: skip
            + (", with the reference density" if overlay else "")
            + "."
            + left_txt,
        )
    ]
    if ref is not None and overlay is None and figs.physical_speeds:
        speed_figs.append(
            _fig(
                F.speed_figure(
                    {g: v for g, v in figs.physical_speeds.items() if g not in left},
                    "m/s",
                    reference=(ref.speed, ref.density, ref.label),
                    **look,
                ),
                "Speeds of the groups in physical units with the reference density.",
            )
        )
    parts.append(
        _finding("How fast", W.how_fast(result) + W.reference(result), "".join(speed_figs))
    )
    dirs = {g: d for g, d in figs.directions.items() if g not in left}
    if dirs or figs.forward:
        gone = [look["labels"][g] for g in figs.directions if g in left]
        parts.append(
            _finding(
                "Which way",
                W.which_way(result),
                _fig(
                    F.direction_figure(dirs, figs.forward, **look),
                    "Directions of propagation: rose histograms on 2-D layouts (CCW from +x), "
                    "forward fraction per recording on lines."
                    + (
                        f" Not drawn (directions from fewer than 3 recordings): {', '.join(gone)}."
                        if gone
                        else ""
                    ),
                ),
            )
        )
    else:
        parts.append(_finding("Which way", W.which_way(result), ""))
    if result.memory is not None:
        curves = {g: e.curves for g, e in result.memory.groups.items()}
        parts.append(
            _finding(
                "How far back each state remembers",
                W.how_far_back(result),
                _img(
                    F.plot_memory_curves(curves, **look),
                    "Memory curves: held-out decoding score of the input tau steps back, with "
                    "each curve's 95% bootstrap band; dashed: chance; thin: the criterion; "
                    "filled points: lags that hold memory; dotted: horizon.",
                ),
            )
        )
    if result.learning:
        parts.append(
            _finding(
                "How fast each model learned",
                W.how_learned(result),
                _fig(
                    F.learning_figure(
                        result.learning,
                        chance=next(
                            (r.chance_loss for r in result.learning if r.chance_loss), None
                        ),
                        medians=figs.learning_median,
                        **look,
                    ),
                    "Learning curves: training loss and exact-string accuracy on fresh batches "
                    "against step and wall time, one line per run (seed; more than 4: thin, "
                    "with each group's median); dashed: the loss of a uniform guess (chance).",
                ),
            )
        )
    parts.append(_finding("What differs between groups", W.differences(result), ""))
    return parts


def _methods(result) -> str:
    s = result.settings
    level = s.get("level", 0.95)
    items = "".join(
        f"<li><code>{_e(p)}</code> ({_e(info.kind)}; "
        f"{_e(', '.join(f'{g}: {_unit(u)}' for g, u in info.units.items()))}): "
        f"{_e(PROPERTIES[p].text if p in PROPERTIES else p)}.</li>"
        for p, info in result.stats.properties.items()
    )
    used: dict[str, list[str]] = {}
    for row in result.recordings:
        m = used.setdefault(str(row.get("group")), [])
        if row.get("method") and row["method"] not in m:
            m.append(str(row["method"]))
    routes = "; ".join(f"{_e(g)}: <code>{_e(', '.join(m))}</code>" for g, m in used.items())
    how = (
        "the velocity route chosen from the data (<code>auto</code>)"
        if s.get("method") == "auto"
        else f"<code>{_e(s['method'])}</code>, as asked"
    )
    return (
        f"<h3>Methods</h3><p>Each recording (or hidden-state capture) is measured with {how}"
        f" ({routes}). Band-pass and analytic phase at every site give PGD and the wave "
        "epochs (PGD above the lag-free no-propagation null, with a persistent direction); "
        "the phase route fits a plane wave to the phase map at every read-out sample "
        "(speed, direction, wavelength), the broadband routes (k-omega ridge, lags, event "
        "times) estimate delays across the sites. Each recording is summarised by one "
        "value per property, so that recordings, not samples, are the units of analysis."
        f"</p><ul>{items}</ul><p>Per group the estimate is the median over "
        f"recordings (the circular mean for directions) with a bootstrap interval at level "
        f"{fmt(level)} (BCa; for directions a percentile interval of the wrapped deviations). "
        "The unit of replication is the subject (animal, session, trained model and seed): a "
        f"pair of groups is tested only with at least {fmt(s.get('min_n', 3))} subjects each, by "
        "a two-sided permutation test of the difference of means (of circular means for "
        "directions), with Cliff's delta and Hedges' g and their bootstrap intervals; where "
        "subjects contribute several recordings a random-intercept mixed model (property ~ "
        "group + (1 | subject)) gives the p-value. All p-values are corrected together "
        "(Benjamini-Hochberg) at false-discovery rate "
        f"{fmt(s.get('alpha', 0.05))}. Groups in different units are compared only on "
        "dimensionless properties; directions only between groups of the same layout.</p>"
    )


def _details(result) -> list[str]:
    figs = result.figures
    look = _look(result)
    parts = ["<h2>Details</h2>", _methods(result)]
    if result.messages:
        notes = list(dict.fromkeys(W.condensed_notes(result.messages, result.stats.n_subjects)))
        parts.append(f"<h3>Notes ({len(notes)})</h3><ul>")
        parts += [f'<li class="note">{_e(m)}</li>' for m in notes]
        parts.append("</ul>")
    # estimates: the rows with an estimate, the rest said once
    st = result.stats
    rows = [
        [
            x.property,
            look["labels"].get(x.group, x.group),
            x.n,
            x.n_subjects,
            x.estimate,
            x.low,
            x.high,
            _unit(x.unit),
            x.statistic,
        ]
        for x in st.summaries
        if x.estimate is not None
    ]
    parts.append("<h3>Estimates per group</h3>")
    if rows:
        parts.append(
            _table(
                [
                    "property",
                    "group",
                    "recordings",
                    "subjects",
                    "estimate",
                    "CI low",
                    "CI high",
                    "unit",
                    "statistic",
                ],  # fmt: skip
                rows,
            )
        )
    missing = [x for x in st.summaries if x.estimate is None]
    if missing:
        by_group = {}
        for x in missing:
            by_group.setdefault(x.group, []).append(x.property)
        parts.append(
            "<p>Not estimated (fewer than "
            f"{fmt(st.settings.min_n)} usable recordings): "
            + "; ".join(f"{_e(g)}: {_e(', '.join(p))}" for g, p in by_group.items())
            + ". Their per-recording values are in the JSON (<code>recordings</code>).</p>"
        )
    run = [t for t in st.tests if t.p_value is not None]
    parts.append("<h3>Group comparisons</h3>")
    if run:
        rows, cls = [], []
        for t in run:
            eff = t.cliffs_delta or t.circ_mean_difference
            rows.append(
                [t.property, f"{t.group_a} vs {t.group_b}", t.n_a, t.n_b, t.difference,
                 t.p_permutation, None if t.mixed is None else t.mixed.p_value, t.p_value,
                 t.p_fdr, None if eff is None else eff.estimate,
                 None if eff is None else eff.low, None if eff is None else eff.high,
                 "Cliff's delta" if t.cliffs_delta else "circ. mean diff (rad)", t.test]
            )  # fmt: skip
            cls.append("sig" if t.significant else "")
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
                    "p used",
                    "p (FDR)",
                    "effect",
                    "low",
                    "high",
                    "effect size",
                    "test",
                ],
                rows,
                cls,
            )  # fmt: skip
        )
    untested = [t for t in st.tests if t.p_value is None]
    if untested:
        pairs = (result.abstract.not_testable if result.abstract else None) or sorted(
            {f"{t.group_a} vs {t.group_b}" for t in untested}
        )
        parts.append(
            f"<p>Not tested ({len(untested)} property x pair comparisons: "
            f"{_e('; '.join(pairs))}): a test needs at least {fmt(st.settings.min_n)} subjects "
            "per group.</p>"
        )
    if result.memory is not None:
        parts.append(_memory_table(result.memory, look["labels"]))
    if result.learning:
        rows = [
            [r.group, r.label, r.final_step, r.final_loss, r.chance_loss,
             {True: "yes", False: "NO: loss at chance", None: "unknown"}[r.learned],
             r.final_char_acc, r.final_exact_acc, r.steps_to_95_exact, r.seconds_to_95_exact]
            for r in result.learning
        ]  # fmt: skip
        parts.append("<h3>Training runs</h3>")
        parts.append(
            _table(
                [
                    "group",
                    "run",
                    "last step",
                    "loss",
                    "chance loss",
                    "learned",
                    "char acc",
                    "exact acc",
                    "steps to 95% exact",
                    "seconds to 95% exact",
                ],
                rows,
            )  # fmt: skip
        )
    if figs.pgd:
        parts.append(
            _fig(
                F.pgd_figure(figs.pgd, medians=figs.pgd_median, **look),
                "PGD over time, one line per recording (more than 4: grey, with their median "
                "in the group's colour); dashed: the wave-epoch threshold.",
            )
        )
    if figs.properties:
        parts.append(
            _fig(
                F.properties_figure(figs.properties, figs.property_units, **look),
                "Dimensionless properties, one point per recording.",
            )
        )
    rows = [
        [i.group, _origin(result, i.group), i.name, i.subject, i.n_sites, i.n_times,
         _hz(i.fs, i.time_unit), "auto" if not i.band else _band(i.band, i.time_unit),
         f"{i.space_unit}, {i.time_unit}", i.n_dims, i.learned_velocity]
        for i in result.inputs
    ]  # fmt: skip
    parts.append("<details><summary>Inputs and settings</summary>")
    parts.append(
        _table(
            [
                "group",
                "origin",
                "recording",
                "subject",
                "sites",
                "samples",
                "sampling",
                "band",
                "units",
                "dims",
                "learned velocity",
            ],
            rows,
        )  # fmt: skip
    )
    s = result.settings
    parts.append(
        f"<p>Permutations: {fmt(s.get('n_permutations'))}; bootstrap resamples: "
        f"{fmt(s.get('n_boot'))}; seed {fmt(s.get('seed'))}.</p></details>"
    )
    return parts


def _unit(u) -> str:
    """A unit as the report prints it: per second is Hz (per step stays 1/step)."""
    return "Hz" if u == "1/s" else u


def _hz(fs: float, time_unit: str) -> str:
    """A rate in Hz (per second) or 1/step."""
    return f"{fs:.4g} Hz" if time_unit == "s" else f"{fs:.4g} /{time_unit}"


def _band(band, time_unit: str) -> str:
    unit = "Hz" if time_unit == "s" else f"cycles/{time_unit}"
    return f"{band[0]:.3g}-{band[1]:.3g} {unit}"


def _origin(result, g: str) -> str:
    p = getattr(result, "provenance", {}).get(g)
    return "" if p is None else p.kind


def _memory_table(mem, labels: dict | None = None) -> str:
    labels = labels or {}
    rows = []
    for g, e in mem.groups.items():
        for i, c in enumerate(e.curves):
            rows.append(
                [labels.get(g, g), Path(e.files[i]).name if e.files[i] else f"#{i}", e.subjects[i],
                 c["metric"], c["lags"][-1], c["chance"],
                 c["horizon"], e.horizon_times[i], c["time_unit"], c["capacity"],
                 "lower bound" if e.censored[i] else ""]
            )  # fmt: skip
    out = "<h3>Memory curves</h3>" + _table(
        ["group", "curve", "subject", "metric", "max lag", "chance", "horizon (steps)",
         "horizon (time)", "time unit", "capacity (steps)", "horizon is"],
        rows,
    )  # fmt: skip
    run = [t for t in mem.tests if t.p_value is not None]
    if run:
        rows = [
            [t.property, f"{t.group_a} vs {t.group_b}", t.n_a, t.n_b, t.mean_a, t.mean_b,
             t.difference, _unit(t.unit), t.p_value, t.p_fdr,
             None if t.cliffs_delta is None else t.cliffs_delta.estimate, t.test]
            for t in run
        ]  # fmt: skip
        out += "<p>Memory compared between groups (same engine and FDR as above):</p>"
        out += _table(
            ["property", "pair", "n a", "n b", "mean a", "mean b", "difference a-b", "unit",
             "p", "p (FDR)", "Cliff's delta", "test"],
            rows,
            ["sig" if t.significant else "" for t in run],
        )  # fmt: skip
    untested = [t for t in mem.tests if t.p_value is None]
    if untested:
        pairs = sorted({f"{t.group_a} vs {t.group_b}" for t in untested})
        out += (
            f"<p>Memory not tested for {_e(', '.join(pairs))}: fewer than 3 curves of "
            "different subjects in a group.</p>"
        )
    return out


def render_comparison(result) -> str:
    """The report of a comparison as one self-contained HTML string.

    Parameters
    ----------
    result : ComparisonResult
        From :func:`wavescope.pipelines.compare.run_comparison`.
    """
    title = " / ".join(W.label(result, g) for g in result.groups)
    head = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>wavescope comparison: {_e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Traveling waves: {_e(title)}</h1>",
        f"<p class='meta'>wavescope {_e(result.wavescope_version)}, {_e(result.created)}. "
        f"Every number is also in <code>{_e(result.json or 'the JSON file')}</code>.</p>",
    ]
    summary = W.abstract(result)
    if summary:
        head.append(
            "<div class='abstract'><b>Summary.</b> " + " ".join(_e(x) for x in summary) + "</div>"
        )
    origins = W.provenance(result)
    if origins:
        sim = any(p.kind == "simulated" for p in getattr(result, "provenance", {}).values())
        head.append(
            f"<div class='{'sim' if sim else 'meta'}'><b>What the groups are.</b><ul>"
            + "".join(f"<li>{_e(x)}</li>" for x in origins)
            + "</ul></div>"
        )
    if result.subject_note:
        head.append(f"<p class='note'><b>Subjects.</b> {_e(result.subject_note)}</p>")
    return "\n".join(head + _findings(result) + _details(result) + ["</body></html>"])
