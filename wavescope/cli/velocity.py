"""``wavescope velocity INPUT``: measure wave speed, direction, wavelength and PGD."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wavescope.core.validate import WaveInputError


def register(sub) -> None:
    from wavescope.waves.velocity import METHODS

    p = sub.add_parser(
        "velocity",
        help="measure traveling waves in a recording or hidden-state capture",
        description="Measure wave speed, direction, wavelength, PGD and wave epochs. INPUT is "
        "any file MNE reads (FIF, EDF, BDF, BrainVision, ...) or an interchange .npz.",
    )
    p.add_argument("input", help="recording (MNE-readable) or .npz (interchange format)")
    p.add_argument(
        "--band",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="pass band in cycles per time unit (Hz); default: around the dominant spectral peak",
    )
    p.add_argument("--method", default="phase-gradient", choices=METHODS)
    p.add_argument(
        "--generalized",
        action="store_true",
        help="generalized phase (Davis et al. 2020), for wide bands",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="false-positive rate per sample of the wave-epoch threshold",
    )
    p.add_argument(
        "--decimate",
        type=int,
        default=None,
        help="read-out step in samples (default: 4 samples per cycle of the band top)",
    )
    p.add_argument(
        "--projection",
        default="plane",
        choices=("plane", "sphere", "none"),
        help="projection of 3-D montage positions onto a surface",
    )
    p.add_argument("--picks", default=None, help="MNE channel type to use (e.g. ecog, seeg)")
    p.add_argument("--bad", nargs="*", default=(), metavar="CH", help="extra channels to mark bad")
    p.add_argument(
        "--summary-of",
        choices=("all", "waves"),
        default="all",
        help="summarise all samples or only those inside wave epochs",
    )
    p.add_argument("--json", metavar="OUT", help="write the summary as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write a summary figure")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _check_out(path: str | None, overwrite: bool) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    if out.exists() and not overwrite:
        raise WaveInputError(f"{out} exists; pass --overwrite to replace it.")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    return out


def format_summary(s: dict) -> str:
    """A short human-readable summary of a velocity summary dict."""

    def g(v, fmt=".3g"):
        return "n/a" if v is None else format(v, fmt)

    sp, di, wl = s["speed"], s["direction"], s["wavelength"]
    band = "auto" if s.get("band") is None else f"{s['band'][0]:.3g}-{s['band'][1]:.3g}"
    lines = [
        f"method       {s['method']}   band {band} /{s['time_unit']}   "
        f"sites {s['n_good_sites']}/{s['n_sites']}   fs {s['fs']:g}/{s['time_unit']}",
        f"speed        {g(sp['median'])} {sp['unit']}  (IQR {g(sp['q25'])}-{g(sp['q75'])})",
        f"direction    {g(di.get('mean_deg'), '.1f')} deg CCW from +x  "
        f"(concentration R = {g(di['concentration'], '.2f')})",
        f"wavelength   {g(wl['median'])} {wl['unit']}",
        f"PGD          median {g(s['pgd']['median'], '.2f')}  "
        f"(epoch threshold {g(s['pgd']['threshold'], '.2f')} at alpha {s['pgd']['alpha']:g})",
        f"waves        {100 * s['wave_fraction']:.1f}% of the time in {s['n_epochs']} epoch(s)",
    ]
    if "patterns" in s:
        pats = ", ".join(f"{k} {100 * v:.0f}%" for k, v in s["patterns"].items() if v > 0)
        lines.append(f"patterns     {pats}")
    for note in s.get("warnings", []):
        lines.append(f"warning      {note}")
    return "\n".join(lines)


def run(args) -> int:
    from wavescope.io import read_recording
    from wavescope.waves.velocity import measure_velocity

    json_out = _check_out(args.json, args.overwrite)
    plot_out = _check_out(args.plot, args.overwrite)
    projection = None if args.projection == "none" else args.projection
    field = read_recording(
        args.input, picks=[args.picks] if args.picks else None, projection=projection
    )
    if isinstance(field, list):
        raise WaveInputError(
            f"{args.input} holds {len(field)} epochs; measure them from Python "
            "(wavescope.io.from_mne) or concatenate them into a Raw first."
        )
    if args.bad:
        field = field.with_bad(list(args.bad) + [n for n, b in zip(field.ch_names, field.bad) if b])
    from tqdm import tqdm

    big = field.n_times * field.n_sites >= 2e7  # a progress bar only where it helps
    with tqdm(
        total=field.n_times,
        unit="sample",
        unit_scale=True,
        desc="velocity",
        disable=not big,
        leave=False,
    ) as bar:
        result = measure_velocity(
            field,
            tuple(args.band) if args.band else None,
            method=args.method,
            generalized=args.generalized,
            alpha=args.alpha,
            decimate=args.decimate,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    summary = result.summary(args.summary_of)
    summary["input"] = os.fspath(args.input)
    print(format_summary(summary))
    if json_out:
        tmp = json_out.with_name(json_out.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, json_out)
        print(f"wrote {json_out}")
    if plot_out:
        from wavescope.report.velocity_figure import plot_velocity

        plot_velocity(result, field, plot_out, title=f"{Path(args.input).name}: {args.method}")
        print(f"wrote {plot_out}")
    return 0
