"""``wavescope compare GROUP=INPUT ... --report OUT.html``: compare groups of recordings."""

from __future__ import annotations

from wavescope.cli.options import (
    add_read_options,
    add_velocity_options,
    read_options,
    velocity_options,
)
from wavescope.core.validate import WaveInputError


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare traveling waves between groups and write an HTML report",
        description="Measure every input, compare the groups (permutation tests, bootstrap "
        "intervals, effect sizes, mixed models, FDR; subjects, not channels, are the units "
        "of replication) and write a self-contained HTML report and a JSON file. Inputs are "
        "files 'wavescope velocity' reads or 'wavescope probe' writes; repeat GROUP=INPUT "
        "for several inputs per group, or use a glob (GROUP='runs/*.npz').",
    )
    p.add_argument("inputs", nargs="+", metavar="GROUP=INPUT", help="group name and input file")
    p.add_argument("--report", required=True, metavar="OUT.html", help="output HTML report")
    p.add_argument(
        "--json",
        default=None,
        metavar="OUT.json",
        help="output JSON (default: the report with suffix .json)",
    )
    add_velocity_options(p)
    p.add_argument(
        "--group-band",
        nargs=3,
        action="append",
        default=[],
        metavar=("GROUP", "LO", "HI"),
        help="pass band of one group",
    )
    add_read_options(p)
    p.add_argument(
        "--subject",
        nargs="+",
        action="extend",
        default=[],
        metavar="GROUP=SUBJECT,SUBJECT,...",
        help="subject of each input of a group, in order (default: the subject stored in "
        "the file, e.g. by 'wavescope probe', else its file name)",
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        action="extend",
        default=[],
        metavar="GROUP=metrics.jsonl",
        help="training metrics (metrics.jsonl or run folder) for learning curves; give it "
        "after the inputs, or repeat it",
    )
    p.add_argument(
        "--memory",
        nargs="+",
        action="extend",
        default=[],
        metavar="GROUP=curve.json",
        help="memory curves (JSON of 'wavescope memory --json' or 'wavescope probe "
        "--memory-curve --json') for the memory-curve section; give it after the inputs, or "
        "repeat it",
    )
    p.add_argument(
        "--reference-speeds",
        default=None,
        metavar="FILE",
        help="reference speed density (.mat with speed_range, k), e.g. Davis 2021 "
        "(default: $WAVESCOPE_DAVIS2021 when set)",
    )
    p.add_argument("--permutations", type=int, default=9999, help="permutation count")
    p.add_argument("--seed", type=int, default=0, help="seed of the statistics")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _pairs(items, what) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in items:
        g, sep, v = s.partition("=")
        if not sep or not g or not v:
            raise WaveInputError(f"{what} {s!r} is not GROUP=VALUE (e.g. cortex=rec1.npz).")
        out.setdefault(g, []).append(v)
    return out


def run(args) -> int:
    import glob
    import os
    from pathlib import Path

    from wavescope.core.validate import check_int
    from wavescope.datasets.davis2021 import DAVIS2021_ENV
    from wavescope.io.metrics import METRICS
    from wavescope.io.outputs import refuse_inputs
    from wavescope.pipelines.compare import check_report_paths, run_comparison, write_comparison
    from wavescope.report.html import render_comparison
    from wavescope.report.text import format_comparison

    groups = _pairs(args.inputs, "input")
    metrics = _pairs(args.metrics, "--metrics") or None
    memory = _pairs(args.memory, "--memory") or None
    subjects = {g: v[0].split(",") for g, v in _pairs(args.subject, "--subject").items()} or None
    vel = velocity_options(args)
    band = vel.band
    if args.group_band:
        if band is not None:
            raise WaveInputError("give either --band or --group-band, not both.")
        try:
            band = {g: (float(lo), float(hi)) for g, lo, hi in args.group_band}
        except ValueError:
            raise WaveInputError("--group-band takes GROUP LO HI with numbers LO, HI.") from None
    check_int("--permutations", args.permutations, minimum=1)  # checked whatever the groups
    for opt, value in (("--report", args.report), ("--json", args.json)):
        if value is not None and not Path(value).name:  # "" or "/": no file name
            raise WaveInputError(f"{opt} {value!r} names no file; give a file name.")
    report, json_path = check_report_paths(args.report, args.json, args.overwrite)
    reference = args.reference_speeds or os.environ.get(DAVIS2021_ENV) or None
    ins = [p for d in (groups, metrics or {}, memory or {}) for vs in d.values() for v in vs
           for p in (glob.glob(v) or [v])]  # fmt: skip
    for out, opt in ((report, "--report"), (json_path, "--json")):
        refuse_inputs(out, [*ins, *(Path(v) / METRICS for v in ins), reference], opt)
    result = run_comparison(
        groups,
        band=band,
        method=vel.method,
        metrics=metrics,
        memory=memory,
        reference=reference,
        subjects=subjects,
        velocity_kw=vel.extra,
        read=read_options(args),
        n_permutations=args.permutations,
        seed=args.seed,
        progress=not args.no_progress,
    )
    result.report, result.json = str(report), str(json_path)
    write_comparison(result, render_comparison(result), report, json_path, overwrite=True)
    print(format_comparison(result))
    print(f"wrote {report}")
    print(f"wrote {json_path}")
    return 0
