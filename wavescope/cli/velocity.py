"""``wavescope velocity INPUT...``: measure wave speed, direction, wavelength and PGD.

One file: its summary (``--json``, ``--plot``). Several files, a folder or a quoted glob:
one Dask task per recording (:func:`wavescope.waves.batch.measure_many`), a summary table
across recordings (``--table OUT.csv``, ``--json`` one entry per recording) and one JSON
per recording in ``--out-dir``; a failing recording is reported by name, the others still
finish, and the exit code is 1.
"""

from __future__ import annotations

import os
from pathlib import Path

from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path, write_json


def register(sub) -> None:
    from wavescope.waves.velocity import METHODS

    p = sub.add_parser(
        "velocity",
        help="measure traveling waves in a recording or hidden-state capture",
        description="Measure wave speed, direction, wavelength, PGD and wave epochs. INPUT is "
        "any file MNE reads (FIF, EDF, BDF, BrainVision, ...) or an interchange .npz; several "
        "inputs, a folder or a quoted glob ('data/*.npz') run one Dask task per recording.",
    )
    p.add_argument(
        "input",
        nargs="+",
        help="recording(s) (MNE-readable or .npz), folder(s), or quoted glob pattern(s)",
    )
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
    p.add_argument(
        "--chunk-samples",
        type=int,
        default=None,
        metavar="N",
        help="longest piece filtered at once, in samples (default: 2^21, at most 512 MB of "
        "float64 over the sites; bounds memory; .npz inputs are memory-mapped "
        "when stored uncompressed, so only one chunk is read at a time)",
    )
    p.add_argument(
        "--json",
        metavar="OUT",
        help="write the summary as JSON (many recordings: one entry per recording)",
    )
    p.add_argument("--plot", metavar="OUT.png", help="write a summary figure (one input only)")
    g = p.add_argument_group("many recordings (several inputs, a folder or a glob)")
    g.add_argument("--table", metavar="OUT.csv", help="write the summary table as CSV")
    g.add_argument("--out-dir", metavar="DIR", help="write one summary JSON per recording")
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="NAME|ADDRESS",
        help="Dask scheduler: threads (default), processes, synchronous, or the address of a "
        "running dask.distributed scheduler, e.g. tcp://host:8786 (pip install "
        "wavescope[cluster])",
    )
    g.add_argument(
        "--workers", type=int, default=None, help="threads/processes of the local scheduler"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


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


def _is_batch(inputs) -> bool:
    if len(inputs) != 1:
        return True
    p = Path(inputs[0])
    return p.is_dir() or (not p.exists() and bool(set("*?[") & set(str(inputs[0]))))


def _velocity_kw(args) -> dict:
    return dict(
        method=args.method,
        generalized=args.generalized,
        alpha=args.alpha,
        decimate=args.decimate,
        chunk_samples=args.chunk_samples,
    )


def _read_kw(args) -> dict:
    projection = None if args.projection == "none" else args.projection
    return dict(
        picks=[args.picks] if args.picks else None, projection=projection, bad=tuple(args.bad)
    )


def run(args) -> int:
    if _is_batch(args.input):
        return run_many(args)
    from wavescope.waves.batch import read_one
    from wavescope.waves.velocity import measure_velocity

    json_out = check_output_path(args.json, args.overwrite)
    plot_out = check_output_path(args.plot, args.overwrite)
    for opt in ("table", "out_dir"):
        if getattr(args, opt):
            raise WaveInputError(
                f"--{opt.replace('_', '-')} is for many recordings (several inputs, a folder "
                "or a glob); for one recording use --json."
            )
    (path,) = args.input
    field = read_one(path, _read_kw(args))
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
            progress=lambda done, total: bar.update(done - bar.n),
            **_velocity_kw(args),
        )
    summary = result.summary(args.summary_of)
    summary["input"] = os.fspath(path)
    print(format_summary(summary))
    if json_out:
        write_json(json_out, summary)
        print(f"wrote {json_out}")
    if plot_out:
        from wavescope.report.velocity_figure import plot_velocity

        plot_velocity(result, field, plot_out, title=f"{Path(path).name}: {args.method}")
        print(f"wrote {plot_out}")
    return 0


def _json_names(files) -> list[str]:
    """One output name per recording: its name without the suffix, made unique."""
    names, seen = [], {}
    for f in files:
        stem = Path(f).name
        for suf in (".fif.gz", ".npz", ".fif", ".edf", ".bdf", ".vhdr", ".set"):
            if stem.lower().endswith(suf):
                stem = stem[: -len(suf)]
                break
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        names.append(f"{stem}.json" if n == 0 else f"{stem}-{n}.json")
    return names


def format_table(rows: list[dict]) -> str:
    """The summary table across recordings as aligned text."""

    def g(v, fmt=".3g"):
        return "-" if v is None or v == "" else format(v, fmt)

    head = ("recording", "speed", "unit", "dir deg", "wavelength", "PGD", "waves %", "status")
    lines = [head]
    for r in rows:
        if r["ok"]:
            lines.append(
                (
                    Path(r["input"]).name,
                    g(r["speed_median"]),
                    r["speed_unit"],
                    g(r["direction_deg"], ".1f"),
                    g(r["wavelength_median"]),
                    g(r["pgd_median"], ".2f"),
                    g(100 * r["wave_fraction"], ".1f"),
                    "ok",
                )
            )
        else:
            lines.append((Path(r["input"]).name, "-", "-", "-", "-", "-", "-", "FAILED"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines)


def run_many(args) -> int:
    import csv
    import sys

    from tqdm import tqdm

    from wavescope.waves.batch import check_scheduler, find_recordings, measure_many, summary_rows

    if args.plot:
        raise WaveInputError("--plot is for one recording; run it on that file alone.")
    check_scheduler(args.scheduler, args.workers)
    json_out = check_output_path(args.json, args.overwrite)
    table_out = check_output_path(args.table, args.overwrite)
    files = find_recordings(args.input)
    names = _json_names(files)
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        clash = [n for n in names if (out_dir / n).exists()]
        if clash and not args.overwrite:
            raise WaveInputError(
                f"{out_dir / clash[0]} exists ({len(clash)} file(s) would be replaced); "
                "pass --overwrite to replace them."
            )
    with tqdm(total=len(files), unit="recording", desc="velocity", leave=False) as bar:
        records = measure_many(
            files,
            tuple(args.band) if args.band else None,
            scheduler=args.scheduler,
            workers=args.workers,
            read_kw=_read_kw(args),
            summary_of=args.summary_of,
            progress=lambda done, total, rec: bar.update(done - bar.n),
            **_velocity_kw(args),
        )
    rows = summary_rows(records)
    print(format_table(rows))
    if out_dir is not None:
        for rec, name in zip(records, names):
            if rec["ok"]:
                write_json(out_dir / name, rec["summary"])
        print(f"wrote {sum(r['ok'] for r in records)} summaries to {out_dir}")
    if json_out:
        write_json(
            json_out,
            {
                "n_recordings": len(records),
                "n_failed": sum(not r["ok"] for r in records),
                "recordings": records,
            },
        )
        print(f"wrote {json_out}")
    if table_out:
        tmp = table_out.with_name(table_out.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_COLUMNS)
            writer.writeheader()
            writer.writerows([{c: r.get(c, "") for c in _COLUMNS} for r in rows])
        os.replace(tmp, table_out)
        print(f"wrote {table_out}")
    failed = [r for r in records if not r["ok"]]
    for r in failed:
        print(f"wavescope velocity: {r['input']} failed: {r['error']}", file=sys.stderr)
    if failed:
        print(
            f"wavescope velocity: {len(failed)} of {len(records)} recording(s) failed",
            file=sys.stderr,
        )
    return 1 if failed else 0


_COLUMNS = [
    "input",
    "ok",
    "speed_median",
    "speed_q25",
    "speed_q75",
    "speed_unit",
    "direction_deg",
    "direction_concentration",
    "wavelength_median",
    "wavelength_unit",
    "pgd_median",
    "wave_fraction",
    "n_epochs",
    "band_lo",
    "band_hi",
    "n_good_sites",
    "duration",
    "error",
]
