"""Claim check: where do the main job's trained models sit against real cortex?

Muller, Churchland & Sejnowski 2024 and Keller 2024 liken the waves in SSM states to
cortical travelling waves. This script puts the main job's models next to the real
cortical material the project holds, in the dimensionless terms that make sites/step and
m/s comparable:

- models: the 3 seeds each of v-Wave Mamba and Mamba that ``wavescope demo`` trains on
  the copy task and probes (impulse responses of layer 0, 8 channels per network; each
  network one subject). The demo is run here with ``--cortex`` on the widefield
  recording (:func:`wavescope.pipelines.demo.run_demo`), unless ``--demo-out`` already
  holds a finished demo run (its training and probing do not depend on the cortex group,
  so a demo run with the simulated cortex gives the same networks for the same seed);
- cortex, recorded: the LENS widefield recording (one mouse under ketamine, 40 s at
  25 Hz, read and preprocessed as ``wavescope velocity`` reads it), cut into four 10 s
  segments (0.5-5 Hz: 10 s do not resolve 0.1 Hz), all of one subject;
- the published marmoset MT distributions of Davis et al. 2021 (Nat Commun 12:6057,
  figure 6; ``../shared/data/davis2021_speeds``, never copied here): the speeds as the
  comparison's reference in m/s, and the wavelengths made dimensionless on the Utah
  array they were measured with (0.4 mm pitch, 10 x 10: extent 5.09 mm corner to corner).

Properties: speed in site spacings per cycle (the distance a crest travels in one period,
= wavelength / spacing), wavelength over the array extent, PGD and wave fraction.

What one recorded animal allows is stated in the outputs: no between-group test with the
recording as a group of 1; where each model seed sits relative to the recorded segments
and the published ranges.

Outputs (``analyses/results/``): ``cortex_vs_models.html`` (the comparison report with
this analysis's placement and statement first), ``cortex_vs_models.json`` (every number
of the report, plus ``analysis``), ``cortex_vs_models.png`` (the placement figure).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python analyses/cortex_vs_models.py \\
        [--demo-out runs/cortex_vs_models/demo] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import html
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "analyses" / "results"
DATA = ROOT.parent / "shared" / "data"  # --data for another place (a git worktree)
WIDEFIELD = Path("lens_widefield_ketamine") / "frames.npz"
DAVIS = Path("davis2021_speeds")
MODELS = ("vwave-mamba", "mamba")
STATE_BAND = (0.1, 0.3)  # cycles/step, as the demo's
WF_BAND = (0.5, 5.0)  # Hz
SEGMENT_S = 10.0
UTAH_SPACING_M = 0.4e-3
UTAH_EXTENT_M = 9 * 0.4e-3 * np.sqrt(2)  # largest distance between sites, as `extent`
PROPS = {
    "speed_sites_per_cycle": "speed (site spacings per cycle)",
    "wavelength_per_extent": "wavelength / extent",
    "pgd_median": "median PGD",
    "wave_fraction": "wave fraction",
}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-out", default=str(ROOT / "runs" / "cortex_vs_models" / "demo"))
    p.add_argument("--seed", type=int, default=0, help="the demo's --seed")
    p.add_argument("--data", default=str(DATA), help="the shared data folder (read only)")
    p.add_argument("--results", default=str(OUT))
    return p.parse_args(argv)


def demo_run(out: Path, seed: int, widefield: Path, davis: Path) -> dict[str, list[Path]]:
    """The demo's probed states per model (running the demo with --cortex if needed)."""
    if not list((out / "states").glob("*_seed*_ch*.npz")):
        from wavescope.pipelines.demo import Renderers, run_demo
        from wavescope.report.figures import save_figure, velocity_figure
        from wavescope.report.html import render_comparison

        render = Renderers(
            velocity_png=lambda r, title: save_figure(velocity_figure(r, title=title)),
            report_html=render_comparison,
        )
        run_demo(out, render=render, seed=seed, reference=davis, cortex=[widefield], overwrite=True)
    states = {m: sorted((out / "states").glob(f"{m}_seed*_ch*.npz")) for m in MODELS}
    for m, paths in states.items():
        seeds = {p.name.split("_ch")[0] for p in paths}
        if len(seeds) < 3:
            raise SystemExit(f"{out}: {m} has {len(seeds)} probed seed(s); 3 are needed.")
    return states


def widefield_segments(path: Path):
    """The recording as ``wavescope velocity`` reads it, cut into SEGMENT_S segments."""
    from wavescope.pipelines.recording import read_input

    field = read_input(path)
    n = int(round(SEGMENT_S * field.fs))
    return field, [
        field.with_data(field.data[:, i : i + n]) for i in range(0, field.n_times - n + 1, n)
    ]


def davis_dimensionless(ell: np.ndarray) -> dict[str, np.ndarray]:
    """Davis et al.'s wavelengths on their Utah array: sites per cycle (wavelength /
    spacing, = speed / (spacing x frequency)) and wavelength / extent."""
    return {
        "speed_sites_per_cycle": ell / UTAH_SPACING_M,
        "wavelength_per_extent": ell / UTAH_EXTENT_M,
    }


def _quantiles(x: np.ndarray) -> dict:
    return {f"q{int(round(100 * q)):02d}": float(np.quantile(x, q)) for q in QUANTILES}


def placement(res, davis: dict[str, np.ndarray]) -> dict:
    """Per property: the recorded segments, the published distribution and each model
    seed's median over its channels, placed against both."""
    rows = res.recordings
    out = {}
    for prop in PROPS:
        wf = np.array([r[prop] for r in rows if r["group"] == "widefield"], float)
        wf = wf[np.isfinite(wf)]
        ref = davis.get(prop)
        entry = {
            "widefield_segments": wf.round(4).tolist(),
            "widefield_range": [float(wf.min()), float(wf.max())] if wf.size else None,
            "davis2021": None if ref is None else {"n": int(ref.size), **_quantiles(ref)},
            "seeds": [],
        }
        for m in MODELS:
            by_seed: dict[str, list[float]] = {}
            for r in rows:
                if r["group"] == m and r[prop] is not None and np.isfinite(r[prop]):
                    by_seed.setdefault(r["subject"].split(" #")[0], []).append(float(r[prop]))
            for s in sorted({r["subject"].split(" #")[0] for r in rows if r["group"] == m}):
                v = by_seed.get(s, [])
                med = float(np.median(v)) if v else None
                seat = {"group": m, "seed": s, "n_channels": len(v), "median": med}
                if med is not None and wf.size:
                    lo, hi = wf.min(), wf.max()
                    seat["vs_widefield"] = "inside" if lo <= med <= hi else (
                        "below" if med < lo else "above"
                    )  # fmt: skip
                    seat["over_widefield_median"] = float(med / np.median(wf))
                if med is not None and ref is not None:
                    seat["davis2021_percentile"] = float(100 * np.mean(ref <= med))
                entry["seeds"].append(seat)
        out[prop] = entry
    return out


def statement(res, place: dict, n_segments: int) -> tuple[list[str], list[str]]:
    """What the comparison can and cannot say with one recorded animal (first list), and
    where each seed sits, property by property (second list), from the numbers."""
    out = [
        f"Cortex here is one mouse: one 40 s session under ketamine, cut into {n_segments} "
        f"segments of {SEGMENT_S:g} s, repeated measures of one subject. A group of 1 has no "
        "between-subject spread, so no test of cortex against a model is run (each such "
        "pair reads 'widefield: 1 subject, no between-group test'); a p-value over the "
        "segments would describe this mouse, not cortex.",
        "The published MT distribution is one marmoset (awake, area MT, another band): a "
        "range to place values in, not a second group. It holds speeds and wavelengths, not "
        "PGD or wave fraction, so those two are placed against the mouse alone.",
        "It can say where each trained network (3 seeds per model, each a subject) sits "
        "against the recorded segments' range and the published quantiles, in "
        "dimensionless units, and test the two models against each other (3 against 3 "
        "subjects: the permutation p-value cannot go below 0.1). It cannot say whether model "
        "waves are cortex-like in general, in awake cortex, other areas or other methods.",
    ]
    for m in MODELS:
        runs = [r for r in res.learning if r.group == m and r.learned is not None]
        dull = [r for r in runs if not r.learned]
        if not dull:
            continue
        out.append(
            f"{m}: {len(dull)} of {len(runs)} seeds did not learn the copy task in the demo's "
            f"budget ({', '.join(r.label for r in dull)}: final loss "
            f"{', '.join(f'{r.final_loss:.2f}' for r in dull)} against chance "
            f"{dull[0].chance_loss:.2f}; their states are those of untrained networks)"
            + "".join(
                f"; {r.label} lowered its loss to {r.final_loss:.2f} without copying "
                f"(exact strings {r.final_exact_acc:.2f})"
                for r in runs
                if r.learned
            )
            + "."
        )
    per_property = []
    for prop, name in PROPS.items():
        e = place[prop]
        parts = []
        for s in e["seeds"]:
            if s["median"] is None:
                parts.append(f"{s['seed']}: no wave")
                continue
            txt = f"{s['seed']}: {s['median']:.3g}"
            if "vs_widefield" in s:
                txt += f" ({s['vs_widefield']} the recording's range"
                txt += (
                    f", MT percentile {s['davis2021_percentile']:.0f})"
                    if "davis2021_percentile" in s
                    else ")"
                )
            parts.append(txt)
        wr = e["widefield_range"]
        head = f"{name}: recording {wr[0]:.3g} to {wr[1]:.3g}" if wr else f"{name}: recording -"
        if e["davis2021"]:
            d = e["davis2021"]
            head += f", MT median {d['q50']:.3g} (IQR {d['q25']:.3g} to {d['q75']:.3g})"
        per_property.append(head + "; " + "; ".join(parts) + ".")
    return out, per_property


def placement_figure(place: dict):
    """One panel per property: recorded segments, MT quantiles, each model seed."""
    from matplotlib.lines import Line2D

    from wavescope.report.figures import _plt, group_colours

    plt = _plt()
    colours = group_colours(["widefield", *MODELS])
    short = {"vwave-mamba": "v-Wave", "mamba": "Mamba"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.2), layout="constrained")
    for ax, (prop, name) in zip(axes.flat, PROPS.items(), strict=True):
        e = place[prop]
        labels, x = [], 0
        wf = e["widefield_segments"]
        ax.plot([x] * len(wf), wf, "o", color=colours["widefield"], ms=7, alpha=0.8)
        labels.append(f"mouse\n{len(wf)} seg.")
        x += 1
        if e["davis2021"]:
            d = e["davis2021"]
            ax.vlines(x, d["q05"], d["q95"], color="0.5", lw=1.5)
            ax.vlines(x, d["q25"], d["q75"], color="0.3", lw=7)
            ax.plot(x, d["q50"], "_", color="w", ms=12, mew=2)
            labels.append("MT\n(Davis)")
            x += 1
        for m in MODELS:
            for s in e["seeds"]:
                if s["group"] != m:
                    continue
                if s["median"] is not None:
                    ax.plot(x, s["median"], "s", color=colours[m], ms=8)
                else:
                    ax.text(x, 0.5, "no wave", transform=ax.get_xaxis_transform(), ha="center",
                            va="center", rotation=90, fontsize=9, color=colours[m])  # fmt: skip
                labels.append(f"{short[m]}\ns{s['seed'].split()[-1]}")
                x += 1
        ax.set_xticks(range(len(labels)), labels, fontsize=9)
        ax.set_xlim(-0.6, x - 0.4)
        ax.set_title(name, fontsize=11)
        if prop in ("speed_sites_per_cycle", "wavelength_per_extent"):
            ax.set_yscale("log")
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles = [
        Line2D([], [], marker="o", ls="", color=colours["widefield"], label="mouse widefield, "
               "10 s segments (recorded)"),
        Line2D([], [], color="0.3", lw=6, label="marmoset MT, Davis et al. 2021 (IQR; "
               "thin line 5-95%)"),
        *(Line2D([], [], marker="s", ls="", color=colours[m], label=f"{m}: one seed's median "
                 "over 8 channels") for m in MODELS),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    return fig


def _cell(seat: dict | None) -> str:
    if seat is None or seat["median"] is None:
        return "no wave"
    txt = f"{seat['median']:.3g}"
    notes = [seat[k] for k in ("vs_widefield",) if k in seat]
    if "davis2021_percentile" in seat:
        notes.append(f"MT pct {seat['davis2021_percentile']:.0f}")
    return txt + (f" ({', '.join(notes)})" if notes else "")


def placement_table(place: dict) -> str:
    """One row per model seed, one column per property; the recording's range and the
    published IQR on the first two rows."""
    head = "".join(f"<th>{html.escape(n)}</th>" for n in PROPS.values())
    wf = "".join(
        "<td>-</td>"
        if (r := place[p]["widefield_range"]) is None
        else f"<td>{r[0]:.3g} to {r[1]:.3g}</td>"
        for p in PROPS
    )
    mt = "".join(
        "<td>not published</td>"
        if (d := place[p]["davis2021"]) is None
        else f"<td>{d['q25']:.3g} to {d['q75']:.3g}</td>"
        for p in PROPS
    )
    rows = []
    for seed in [s["seed"] for s in place["pgd_median"]["seeds"]]:
        cells = []
        for p in PROPS:
            seat = next((x for x in place[p]["seeds"] if x["seed"] == seed), None)
            cells.append(f"<td>{html.escape(_cell(seat))}</td>")
        rows.append(f"<tr><th>{html.escape(seed)}</th>{''.join(cells)}</tr>")
    return (
        "<div class='table-wrap'><table><tr><th></th>" + head + "</tr>"
        f"<tr><th>mouse, range of 10 s segments</th>{wf}</tr>"
        f"<tr><th>marmoset MT, IQR</th>{mt}</tr>" + "".join(rows) + "</table></div>"
        "<p class='meta'>Each seed: its median over 8 channels; inside / below / above the "
        "recording's range; MT pct: its percentile in the published distribution "
        "(wavelengths on a 0.4 mm Utah array).</p>"
    )


def analysis_sections(lines: list[str], png: bytes, place: dict) -> tuple[str, str]:
    """The statement (opens the report) and the placement (figure and table, before the
    findings)."""
    import base64

    statement_html = (
        "<div class='abstract'><b>What one recorded animal can and cannot say</b> "
        "(analyses/cortex_vs_models.py)<ul>"
        + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
        + "</ul></div>"
    )
    b64 = base64.b64encode(png).decode("ascii")
    placement_html = (
        "<h2>Where each model seed sits</h2>"
        f"<figure><img alt='placement' src='data:image/png;base64,{b64}'><figcaption>"
        "Each model seed's median over its 8 channels, against the segments of the recorded "
        "mouse and the published marmoset MT quantiles.</figcaption></figure>"
        + placement_table(place)
    )
    return statement_html, placement_html


def _shown(path: Path) -> str:
    """A path as the report names it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    from wavescope.datasets import (
        DAVIS2021_CITATION,
        read_davis2021_speeds,
        read_davis2021_wavelengths,
    )
    from wavescope.pipelines.compare import Provenance, run_comparison, write_comparison
    from wavescope.report.figures import save_figure
    from wavescope.report.html import render_comparison

    widefield, davis = Path(args.data) / WIDEFIELD, Path(args.data) / DAVIS
    for need in (widefield, davis):
        if not need.exists():
            raise SystemExit(f"{need} is absent: give the shared data folder with --data.")
    demo = Path(args.demo_out)
    states = demo_run(demo, args.seed, widefield, davis)
    field, segs = widefield_segments(widefield)
    print(f"widefield: {field.n_sites} sites, {len(segs)} segments of {SEGMENT_S:g} s")
    runs = {m: sorted((demo / "runs" / m).glob("seed*")) for m in MODELS}

    res = run_comparison(
        {"widefield": segs, **states},
        band={"widefield": WF_BAND, **{m: STATE_BAND for m in MODELS}},
        method="phase-gradient",  # one estimator on both sides, as the demo's
        subjects={"widefield": ["mouse (LENS, ketamine)"] * len(segs)},
        provenance={
            "widefield": Provenance.recorded(
                "LENS widefield calcium imaging, mouse under ketamine-xylazine (Resta, "
                "Allegra Mascaro & Pavone, EBRAINS doi:10.25493/QFZK-FXS; "
                f"{widefield.name}), {SEGMENT_S:g} s segments of one session",
                subject_name="animal",
            )
        },
        metrics=runs,
        reference=read_davis2021_speeds(davis),
        progress=True,
    )
    ell = read_davis2021_wavelengths(davis)
    place = placement(res, davis_dimensionless(ell))
    lines, seats = statement(res, place, len(segs))
    print("\n".join(lines + seats))

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    report, json_path, png_path = (
        results / "cortex_vs_models.html",
        results / "cortex_vs_models.json",
        results / "cortex_vs_models.png",
    )
    png = save_figure(placement_figure(place), "png", dpi=100)
    png_path.write_bytes(png)
    res.report, res.json = (_shown(report), _shown(json_path))
    page = render_comparison(res)
    first, second = analysis_sections(lines, png, place)
    cut = page.index("<div class='abstract'>")
    page = page[:cut] + first + page[cut:]
    cut = page.index("<h2>Findings")
    page = page[:cut] + second + page[cut:]
    write_comparison(res, page, report, json_path, overwrite=True)
    out = res.to_json()
    demo_report = demo / "report.json"
    demo_json = json.loads(demo_report.read_text()) if demo_report.exists() else {}
    out["analysis"] = {
        "script": "analyses/cortex_vs_models.py",
        "statement": lines,
        "placement_text": seats,
        "placement": place,
        "demo": {
            "out": str(demo),
            "cortex_of_the_demo_run": demo_json.get("provenance", {}).get("cortex"),
            "learned": {m: res.learned.get(m) for m in MODELS},
        },
        "davis2021": {
            "citation": DAVIS2021_CITATION,
            "utah_spacing_m": UTAH_SPACING_M,
            "utah_extent_m": float(UTAH_EXTENT_M),
            "wavelength_m": {"n": int(ell.size), **_quantiles(ell)},
        },
        "widefield": {"file": str(WIDEFIELD), "band_hz": list(WF_BAND), "segment_s": SEGMENT_S},
        "data": "the shared data folder (--data), read only",
        "platform": platform.platform(),
        "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3]
        if Path("/proc/loadavg").exists()
        else None,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    json_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {report}, {json_path}, {png_path} ({out['analysis']['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
